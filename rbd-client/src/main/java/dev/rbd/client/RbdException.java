package dev.rbd.client;

import dev.rbd.protocol.NbdError;

/** The root of the client's exceptions; {@link #error()} is the NBD error when the server sent one. */
public class RbdException extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private final transient NbdError error;

    public RbdException(String message) {
        this(message, null, null);
    }

    public RbdException(String message, NbdError error, Throwable cause) {
        super(message, cause);
        this.error = error;
    }

    /** The NBD error the server answered with, or {@code null} when the failure was not the server's answer. */
    public NbdError error() {
        return error;
    }
}
