package dev.rbd.client.internal;

import dev.rbd.client.RbdException;

/** Internal: the connection ended under a request; {@link #sent()} says whether it had reached the socket. */
public final class ConnectionLostException extends RbdException {
    private static final long serialVersionUID = 1L;
    private final boolean sent;

    public ConnectionLostException(String message, boolean sent, Throwable cause) {
        super(message, null, cause);
        this.sent = sent;
    }

    public boolean sent() {
        return sent;
    }
}
