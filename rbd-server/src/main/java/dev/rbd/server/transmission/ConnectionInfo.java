package dev.rbd.server.transmission;

import dev.rbd.server.Export;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Who a connection is and what it did: its id and peer for log lines, the client identity the writer lock is
 * keyed on, and byte counters for the closing log line.
 */
public final class ConnectionInfo {
    private static final AtomicLong IDS = new AtomicLong();

    private final long id = IDS.incrementAndGet();
    private final String peer;
    private final String client;
    private final long startNanos = System.nanoTime();
    private final AtomicLong bytesRead = new AtomicLong();
    private final AtomicLong bytesWritten = new AtomicLong();
    private final AtomicLong requests = new AtomicLong();
    private volatile Export export;

    /**
     * @param peer   the remote address as text
     * @param client the identity for the writer lock: the source address (TCP) or the peer's uid and pid (Unix)
     */
    public ConnectionInfo(String peer, String client) {
        this.peer = peer;
        this.client = client;
    }

    public long id() {
        return id;
    }

    public String peer() {
        return peer;
    }

    public String client() {
        return client;
    }

    public long ageMillis() {
        return (System.nanoTime() - startNanos) / 1_000_000;
    }

    public void attach(Export e) {
        export = e;
    }

    public Export export() {
        return export;
    }

    /** Data bytes read from the export for this client. */
    public AtomicLong bytesRead() {
        return bytesRead;
    }

    /** Data bytes written to the export by this client. */
    public AtomicLong bytesWritten() {
        return bytesWritten;
    }

    public AtomicLong requests() {
        return requests;
    }
}
