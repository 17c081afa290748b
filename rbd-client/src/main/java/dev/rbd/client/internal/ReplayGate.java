package dev.rbd.client.internal;

import java.util.List;

/**
 * Decides when acknowledged-but-unflushed writes must be written again, since the server may have lost them
 * (every connection was lost, or the server came back as a new instance), and holds every other request back while
 * they are. Its lock is never held while calling out.
 */
final class ReplayGate {
    private final Unflushed unflushed;
    private long serverInstance;
    private boolean due;
    private boolean shut;

    /** @param serverInstance the first connection's server instance, 0 when the server did not say */
    ReplayGate(Unflushed unflushed, long serverInstance) {
        this.unflushed = unflushed;
        this.serverInstance = serverInstance;
    }

    /** Every connection is gone: the server may have gone with what it acknowledged. */
    synchronized void allConnectionsLost() {
        due |= !unflushed.isEmpty();
    }

    /**
     * A connection is back, to server {@code instance}: returns the writes to write again before anything else,
     * shutting the gate while they are, or an empty list.
     */
    synchronized List<Request> reconnected(long instance) {
        if (instance != 0 && serverInstance != 0 && instance != serverInstance && !unflushed.isEmpty()) {
            due = true; // a new server process: what it acknowledged without a sync may be gone
        }
        serverInstance = instance;
        if (!due || shut) {
            return List.of();
        }
        due = false;
        List<Request> again = unflushed.snapshot();
        shut = !again.isEmpty();
        return again;
    }

    /** Whether requests must wait: unflushed writes are being written again. */
    synchronized boolean isShut() {
        return shut;
    }

    /** The replay ended and the gate opens; if its connection was lost, the next reconnect replays again. */
    synchronized void opened(boolean lost) {
        shut = false;
        due |= lost;
    }
}
