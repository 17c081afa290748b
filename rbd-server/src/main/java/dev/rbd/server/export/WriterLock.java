package dev.rbd.server.export;

import java.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A read-write export's writer lock: one client at a time, over any number of connections. An rbd session that
 * lost its last connection without saying goodbye keeps the lock for a grace period, so it can reconnect and
 * replay while other clients stay refused.
 */
public final class WriterLock {
    private static final Logger log = LoggerFactory.getLogger(WriterLock.class);

    private final String export;
    private final boolean open;
    private String owner;
    private String ownerLabel;
    private int ownerConnections;
    private long ownerHeldUntil;
    private final Duration sessionGrace;

    /**
     * @param export       the export's name, for messages
     * @param open         read-only and shared exports take anyone: the lock is never taken
     * @param sessionGrace how long a session that lost its connections keeps the lock (0 releases at once)
     */
    WriterLock(String export, boolean open, Duration sessionGrace) {
        this.export = export;
        this.open = open;
        this.sessionGrace = sessionGrace;
    }

    /**
     * Claims the export for a connection of {@code client}, who is named {@code label} in messages (an rbd session
     * by its tag: its id is its proof, never shown). An open export takes anyone; a read-write export takes
     * connections of its current owner only.
     *
     * @return {@code null} when granted, else the reason for the refusal
     */
    public synchronized String claim(String client, String label) {
        if (open) {
            return null;
        }
        if (owner != null && ownerConnections == 0 && System.nanoTime() - ownerHeldUntil >= 0) {
            owner = null; // a session's hold ran out without it coming back
        }
        if (owner != null && !owner.equals(client)) {
            return "export '" + export + "' is in use read-write by " + ownerLabel + (ownerConnections > 0
                    ? " (" + ownerConnections + " connection(s))"
                    : " (held for its reconnect, " + Math.max(1, (ownerHeldUntil - System.nanoTime()) / 1_000_000_000)
                    + " s left)") + "; one writer at a time unless the server runs with --shared";
        }
        owner = client;
        ownerLabel = label;
        ownerConnections++;
        return null;
    }

    /**
     * Releases a claim made by {@link #claim(String, String)}, once the connection's requests have all finished; a session
     * that left without DISC ({@code clean} false) keeps the lock for the session grace period.
     */
    public synchronized void release(String client, boolean clean) {
        if (open || owner == null || !owner.equals(client)) {
            return;
        }
        if (--ownerConnections == 0) {
            if (!clean && client.startsWith("session ") && !sessionGrace.isZero()) {
                ownerHeldUntil = System.nanoTime() + sessionGrace.toNanos();
                log.info("export {}: {} lost its connections; writer lock held for {} s for its reconnect", export,
                        ownerLabel, sessionGrace.toSeconds());
            } else {
                owner = null;
            }
        }
    }

    /** Whether a client holds the lock: it has connections, or its session's hold has not run out. */
    public synchronized boolean held() {
        return owner != null && (ownerConnections > 0 || System.nanoTime() - ownerHeldUntil < 0);
    }

    /** The client that holds the lock, or {@code null}. */
    public synchronized String owner() {
        return owner;
    }
}
