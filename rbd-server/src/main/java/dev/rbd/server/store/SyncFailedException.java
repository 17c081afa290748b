package dev.rbd.server.store;

import java.io.IOException;

/**
 * A sync failed, or an earlier one did: the writes it was to cover may be lost (Linux can drop dirty pages after an
 * fdatasync error), so the export acknowledges no further write until it is reopened.
 */
public final class SyncFailedException extends IOException {
    private static final long serialVersionUID = 1L;

    public SyncFailedException(String message, Throwable cause) {
        super(message, cause);
    }
}
