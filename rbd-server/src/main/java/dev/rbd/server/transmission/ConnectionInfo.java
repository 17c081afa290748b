package dev.rbd.server.transmission;

import dev.rbd.server.Export;
import io.netty.channel.Channel;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Who a connection is and what it did: its id and peer for log lines, the client identity the writer lock is
 * keyed on (the rbd session, when the client sent one), byte counters for the closing log line, and how to fence
 * it.
 */
public final class ConnectionInfo {
    /** How far a fenced connection got: requests it had read that were finished, and those discarded. */
    public record Fenced(int finished, int discarded) {
    }

    /** Fences a connection in its current phase; called on its event loop. */
    @FunctionalInterface
    public interface Fencer {
        CompletableFuture<Fenced> fence();
    }

    private static final AtomicLong IDS = new AtomicLong();

    private final long id = IDS.incrementAndGet();
    private final String peer;
    private final String client;
    private final long startNanos = System.nanoTime();
    private final AtomicLong bytesRead = new AtomicLong();
    private final AtomicLong bytesWritten = new AtomicLong();
    private final AtomicLong requests = new AtomicLong();
    private volatile Export export;
    private volatile Channel channel;
    private volatile UUID session;
    private volatile Fencer fencer;

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

    /** The writer lock's notion of this client: its rbd session, else its source address or Unix peer. */
    public String client() {
        UUID s = session;
        return s != null ? "session " + s : client;
    }

    public UUID session() {
        return session;
    }

    public void session(UUID id) {
        session = id;
    }

    /** Binds the channel; until the transmission phase, fencing simply closes it. */
    public void bind(Channel ch) {
        channel = ch;
        fencer = () -> {
            ch.close();
            return CompletableFuture.completedFuture(new Fenced(0, 0));
        };
    }

    /** Replaces how this connection is fenced (the transmission phase knows about requests in flight). */
    public void fencer(Fencer f) {
        fencer = f;
    }

    /**
     * Fences this connection from any thread: it reads nothing more, the bytes it has not read are dropped, and
     * the future completes once no request it read is still running.
     */
    public CompletableFuture<Fenced> fence() {
        Channel ch = channel;
        CompletableFuture<Fenced> done = new CompletableFuture<>();
        ch.eventLoop().execute(() -> fencer.fence().whenComplete((f, e) -> {
            if (e != null) {
                done.completeExceptionally(e);
            } else {
                done.complete(f);
            }
        }));
        return done;
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
