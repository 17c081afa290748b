package dev.rbd.client;

import dev.rbd.protocol.NbdReplyType;

/**
 * The server has no export of the name asked for: it answered ERR_UNKNOWN, or, after EXPORT_NAME (which has no
 * error reply), closed the connection.
 */
public final class UnknownExportException extends OptionRefusedException {
    private static final long serialVersionUID = 1L;
    private final String export;

    public UnknownExportException(String message, String export, NbdReplyType replyType, String serverMessage) {
        super(message, replyType, serverMessage);
        this.export = export;
    }

    public String export() {
        return export;
    }
}
