package dev.rbd.client;

import dev.rbd.protocol.NbdReplyType;

/** The server refused by its policy (ERR_POLICY): {@link #serverMessage()} carries its reason, if it gave one. */
public final class PolicyRefusedException extends OptionRefusedException {
    private static final long serialVersionUID = 1L;

    public PolicyRefusedException(String message, String serverMessage) {
        super(message, NbdReplyType.ERR_POLICY, serverMessage);
    }
}
