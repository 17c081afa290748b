package dev.rbd.client.internal;

import dev.rbd.client.ExportInfo;
import dev.rbd.client.OutcomeUnknownException;
import dev.rbd.client.RbdException;
import dev.rbd.protocol.NbdCommand;
import io.netty.buffer.ByteBuf;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The client's session: the current connection, and what happens when it dies. Every request keeps its payload
 * until answered; when the connection ends, requests in flight and new ones are parked, the session reconnects
 * with exponential backoff and jitter, checks the export did not change, waits a quiescence period (so a stale
 * connection's requests have drained on a server that cannot fence), and replays the parked requests in
 * submission order. Overlapping requests are never in flight together (see {@link OverlapIndex}), so a replay
 * cannot reorder two writes to the same bytes. When the reconnect wait runs out, never-sent requests fail plainly
 * and sent ones with {@link OutcomeUnknownException}, and the session accepts no more work.
 */
public final class Session {
    private static final Logger log = LoggerFactory.getLogger(Session.class);

    /** A live connection and what its negotiation said. */
    public record Established(Connection connection, ExportInfo info) {
    }

    /** How the session reconnects. */
    public record Policy(Duration reconnectWait, Duration backoffInitial, Duration backoffMax, Duration quiescence) {
    }

    /** One request, kept until answered. */
    private static final class Req {
        final long seq;
        final int flags;
        final NbdCommand cmd;
        final long offset;
        final int length;
        final ByteBuf payload;
        final byte[] target;
        final int targetOffset;
        final CompletableFuture<Void> result;
        boolean sent;

        Req(long seq, int flags, NbdCommand cmd, long offset, int length, ByteBuf payload, byte[] target,
            int targetOffset, CompletableFuture<Void> result) {
            this.seq = seq;
            this.flags = flags;
            this.cmd = cmd;
            this.offset = offset;
            this.length = length;
            this.payload = payload;
            this.target = target;
            this.targetOffset = targetOffset;
            this.result = result;
        }
    }

    private final Supplier<Established> connector;
    private final Policy policy;
    private final ExportInfo info;
    private final AtomicLong seqs = new AtomicLong();
    private final List<Req> parked = new ArrayList<>();
    private Connection connection;
    private boolean reconnecting;
    private boolean closed;
    private RbdException failure;
    private int reconnects;
    private final AtomicLong replayed = new AtomicLong();

    public Session(Established first, Supplier<Established> connector, Policy policy) {
        this.connection = first.connection();
        this.info = first.info();
        this.connector = connector;
        this.policy = policy;
        watch(first.connection());
    }

    /** Sends a request now, or parks it while reconnecting. Takes ownership of {@code payload}. */
    public CompletableFuture<Void> submit(int flags, NbdCommand cmd, long offset, int length, ByteBuf payload,
                                          byte[] target, int targetOffset) {
        CompletableFuture<Void> result = new CompletableFuture<>();
        Req r = new Req(seqs.incrementAndGet(), flags, cmd, offset, length, payload, target, targetOffset, result);
        result.whenComplete((v, e) -> payload.release());
        attempt(r);
        return result;
    }

    private void attempt(Req r) {
        Connection c;
        synchronized (this) {
            if (failure != null) {
                fail(r, failure);
                return;
            }
            if (connection == null) {
                parked.add(r);
                return;
            }
            c = connection;
        }
        r.payload.retain(); // the connection releases what it sends; we keep our reference for a replay
        c.submit(r.flags, r.cmd, r.offset, r.length, r.payload, r.target, r.targetOffset).whenComplete((v, e) -> {
            if (e == null) {
                r.result.complete(null);
            } else if (e instanceof ConnectionLostException lost && policy.reconnectWait().toMillis() > 0) {
                r.sent |= lost.sent();
                replayed.incrementAndGet();
                connectionLost(c);
                attempt(r);
            } else if (e instanceof ConnectionLostException lost) {
                r.sent |= lost.sent();
                fail(r, lost);
            } else {
                r.result.completeExceptionally(e);
            }
        });
    }

    private static void fail(Req r, RbdException cause) {
        boolean changes = r.cmd != NbdCommand.READ && r.cmd != NbdCommand.CACHE;
        if (r.sent && changes) {
            r.result.completeExceptionally(new OutcomeUnknownException(r.cmd + " at "
                    + Long.toUnsignedString(r.offset) + "+" + r.length + " was sent but never answered ("
                    + cause.getMessage() + "); it may or may not have taken effect", cause));
        } else {
            r.result.completeExceptionally(cause);
        }
    }

    private void watch(Connection c) {
        c.channel().closeFuture().addListener(f -> connectionLost(c));
    }

    private void connectionLost(Connection c) {
        synchronized (this) {
            if (connection != c || closed) {
                return;
            }
            connection = null;
            if (policy.reconnectWait().toMillis() <= 0) {
                failure = new RbdException("connection lost and reconnecting is disabled");
                List<Req> rest = new ArrayList<>(parked);
                parked.clear();
                rest.forEach(r -> fail(r, failure));
                return;
            }
            if (reconnecting) {
                return;
            }
            reconnecting = true;
        }
        Thread t = new Thread(this::reconnect, "rbd-reconnect");
        t.setDaemon(true);
        t.start();
    }

    private void reconnect() {
        long deadline = System.nanoTime() + policy.reconnectWait().toNanos();
        long delay = policy.backoffInitial().toMillis();
        RbdException last = null;
        while (System.nanoTime() < deadline) {
            synchronized (this) {
                if (closed) {
                    return;
                }
            }
            // backoff with jitter: between half and all of the current delay
            pause(delay / 2 + ThreadLocalRandom.current().nextLong(delay / 2 + 1));
            try {
                Established e = connector.get();
                if (e.info().size() != info.size() || e.info().readOnly() != info.readOnly()) {
                    e.connection().channel().close();
                    last = new RbdException("the export changed across the reconnect (size " + info.size() + " -> "
                            + e.info().size() + ", read-only " + info.readOnly() + " -> " + e.info().readOnly()
                            + "); not replaying");
                    break;
                }
                log.info("reconnected to the export; fencing is unavailable, waiting {} ms for the old connection's "
                        + "requests to drain before replaying", policy.quiescence().toMillis());
                pause(policy.quiescence().toMillis());
                List<Req> replay;
                synchronized (this) {
                    if (closed) {
                        e.connection().channel().close();
                        return;
                    }
                    connection = e.connection();
                    reconnecting = false;
                    reconnects++;
                    replay = new ArrayList<>(parked);
                    parked.clear();
                }
                watch(e.connection());
                replay.sort(Comparator.comparingLong(r -> r.seq));
                replay.forEach(this::attempt);
                return;
            } catch (RbdException ex) {
                last = ex;
                delay = Math.min(delay * 2, policy.backoffMax().toMillis());
            }
        }
        List<Req> rest;
        synchronized (this) {
            failure = new RbdException("server unreachable for " + policy.reconnectWait().toMillis() + " ms"
                    + (last != null ? ": " + last.getMessage() : ""), null, last);
            reconnecting = false;
            rest = new ArrayList<>(parked);
            parked.clear();
        }
        rest.forEach(r -> fail(r, failure));
    }

    private static void pause(long ms) {
        try {
            Thread.sleep(ms); // backoff between reconnect attempts: nothing to await but time
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** The current connection, or {@code null} while reconnecting. */
    public synchronized Connection connection() {
        return connection;
    }

    /** Successful reconnects so far. */
    public synchronized int reconnects() {
        return reconnects;
    }

    /** Requests caught by a dead connection and sent again. */
    public long replayed() {
        return replayed.get();
    }

    /** Stops reconnecting; returns the current connection (may be {@code null}). */
    public synchronized Connection close() {
        closed = true;
        return connection;
    }
}
