package dev.rbd.server.store;

import java.io.IOException;

/** Zeroing was asked to be fast ({@code FAST_ZERO}) and cannot be: nothing was changed. */
public final class FastZeroUnsupportedException extends IOException {
    private static final long serialVersionUID = 1L;

    public FastZeroUnsupportedException(String message) {
        super(message);
    }
}
