package dev.rbd.client;

import dev.rbd.protocol.NbdReplyType;

/**
 * The server refused an option during negotiation; {@link #replyType()} is the error reply it sent (ERR_SHUTDOWN,
 * ERR_TLS_REQD, ...), {@code null} when it closed the connection instead of answering.
 */
public class OptionRefusedException extends RbdException {
    private static final long serialVersionUID = 1L;
    private final transient NbdReplyType replyType;
    private final String serverMessage;

    public OptionRefusedException(String message, NbdReplyType replyType, String serverMessage) {
        super(message, null, null);
        this.replyType = replyType;
        this.serverMessage = serverMessage;
    }

    /** The server's error reply, or {@code null} when there was none (a close after EXPORT_NAME). */
    public NbdReplyType replyType() {
        return replyType;
    }

    /** The text the server sent with its error reply; empty when it sent none. */
    public String serverMessage() {
        return serverMessage;
    }
}
