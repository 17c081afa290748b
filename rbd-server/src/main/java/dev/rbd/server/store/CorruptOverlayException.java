package dev.rbd.server.store;

import java.io.IOException;

/** An overlay's files are not what rbd writes: damaged, cut short, or not an overlay at all. */
public final class CorruptOverlayException extends IOException {
    public CorruptOverlayException(String message) {
        super(message);
    }
}
