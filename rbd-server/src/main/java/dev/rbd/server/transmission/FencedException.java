package dev.rbd.server.transmission;

import java.io.IOException;

/** A step of a request did not run: its connection was fenced, or the server is shutting down (ESHUTDOWN). */
final class FencedException extends IOException {
    FencedException() {
        super("connection was fenced or the server is shutting down", null);
    }
}
