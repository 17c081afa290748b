package dev.rbd.client;

/**
 * A write (or trim, zero, flush) was sent and the connection ended before its reply: it may or may not have
 * reached the disk. Never a plain failure, because retrying it blindly could reorder it after a newer write.
 */
public final class OutcomeUnknownException extends RbdException {
    private static final long serialVersionUID = 1L;

    public OutcomeUnknownException(String message, Throwable cause) {
        super(message, null, cause);
    }
}
