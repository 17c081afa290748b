package dev.rbd.server.store;

import java.io.IOException;

/** The golden image an overlay was made over was replaced or modified since: the overlay would read as garbage. */
public final class GoldenChangedException extends IOException {
    public GoldenChangedException(String message) {
        super(message);
    }
}
