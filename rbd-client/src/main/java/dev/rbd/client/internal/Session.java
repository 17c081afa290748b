package dev.rbd.client.internal;

import dev.rbd.client.ExportInfo;
import dev.rbd.client.OutcomeUnknownException;
import dev.rbd.client.RbdException;
import dev.rbd.protocol.NbdCommand;
import dev.rbd.protocol.NbdConstants;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The client's session: one or more connections ("slots", several only where the server allows multi-conn), and
 * what happens when one dies.
 *
 * <p>Every request keeps its payload until it is retired: when answered, or, for a write the server acknowledged
 * without making it durable, when a FLUSH covers it. When a connection ends, its unanswered requests wait for that
 * slot to reconnect (exponential backoff with jitter, a new epoch each attempt). On our server the new connection's
 * handshake fences the old one, so nothing of it can land later; on a server without fencing the session waits a
 * quiescence period instead. The export must not have changed. The waiting requests are then replayed in
 * submission order, on any live connection. Overlapping requests are never in flight together (see
 * {@link OverlapIndex}), so a replay cannot reorder two writes to the same bytes.
 *
 * <p>Acknowledged but unflushed writes are replayed too, in order and before anything else, when the server may
 * have lost them: after every connection was lost, or when the server reports a new instance. While that replay
 * runs, nothing else is sent.
 *
 * <p>When a slot's reconnect wait runs out, never-sent requests fail plainly, sent writes with
 * {@link OutcomeUnknownException}, and the session accepts no more work.
 */
public final class Session {
    private static final Logger log = LoggerFactory.getLogger(Session.class);

    /** A live connection and what its negotiation said. */
    public record Established(Connection connection, ExportInfo info, long serverInstance) {
    }

    /** Opens one connection for a slot, with the epoch its rbd session option carries. */
    @FunctionalInterface
    public interface Connector {
        Established connect(int slot, long epoch);
    }

    /**
     * How the session reconnects and retains.
     *
     * @param autoFlushBytes when acknowledged-but-unflushed writes hold this many bytes, the session sends a FLUSH
     *                       of its own so they can be let go
     */
    public record Policy(Duration reconnectWait, Duration backoffInitial, Duration backoffMax, Duration quiescence,
                         long autoFlushBytes) {
    }

    /** One request, kept until retired. */
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
        final Runnable onAnswered;
        final Runnable onRetire;
        final AtomicBoolean answered = new AtomicBoolean();
        final AtomicBoolean retired = new AtomicBoolean();
        final boolean internal;
        boolean sent;
        long ackSeq;
        long covers;

        Req(long seq, int flags, NbdCommand cmd, long offset, int length, ByteBuf payload, byte[] target,
            int targetOffset, CompletableFuture<Void> result, Runnable onAnswered, Runnable onRetire,
            boolean internal) {
            this.seq = seq;
            this.flags = flags;
            this.cmd = cmd;
            this.offset = offset;
            this.length = length;
            this.payload = payload;
            this.target = target;
            this.targetOffset = targetOffset;
            this.result = result;
            this.onAnswered = onAnswered;
            this.onRetire = onRetire;
            this.internal = internal;
        }

        boolean changesData() {
            return cmd == NbdCommand.WRITE || cmd == NbdCommand.TRIM || cmd == NbdCommand.WRITE_ZEROES;
        }

        /** The request is over (answered or failed): what the submitter holds until then goes; once. */
        void over() {
            if (answered.compareAndSet(false, true)) {
                onAnswered.run();
            }
        }

        /** Lets go of the payload and whatever the submitter counted against it; once. */
        void retire() {
            if (retired.compareAndSet(false, true)) {
                payload.release();
                onRetire.run();
            }
        }
    }

    private static final class Slot {
        final int index;
        long epoch;
        Connection connection;
        boolean reconnecting;
        final List<Req> orphans = new ArrayList<>();

        Slot(int index) {
            this.index = index;
        }
    }

    private final Executor callbacks;
    private final Connector connector;
    private final Policy policy;
    private final ExportInfo info;
    private final boolean durableAcks;
    private final Slot[] slots;
    private final AtomicLong seqs = new AtomicLong();
    private final AtomicLong replayed = new AtomicLong();
    /** Requests with no live connection to go to, or held back while unflushed writes are replayed. */
    private final List<Req> waiting = new ArrayList<>();
    /** Acknowledged writes no FLUSH covers yet (only where acks are not durable), in acknowledgement order. */
    private final ArrayDeque<Req> unflushed = new ArrayDeque<>();
    private long unflushedBytes;
    private long acks;
    private long serverInstance;
    private boolean replayUnflushed;
    private boolean gated;
    private boolean autoFlushing;
    private int next;
    private boolean closed;
    private RbdException failure;
    private int reconnects;

    /**
     * @param first     one established connection per slot, slot 0 first, all of the same export
     * @param callbacks where callers' futures complete; the session's own bookkeeping (letting go of payloads and
     *                  budget) runs on the network thread, so a caller blocked in a callback cannot stall it
     */
    public Session(List<Established> first, Connector connector, Policy policy, Executor callbacks) {
        this.callbacks = callbacks;
        this.connector = connector;
        this.policy = policy;
        this.info = first.get(0).info();
        this.durableAcks = info.durableAcks();
        this.serverInstance = first.get(0).serverInstance();
        this.slots = new Slot[first.size()];
        for (int i = 0; i < slots.length; i++) {
            slots[i] = new Slot(i);
            slots[i].epoch = 1;
            slots[i].connection = first.get(i).connection();
            watch(slots[i], first.get(i).connection());
        }
    }

    /**
     * Sends a request now, or keeps it until a connection is back. Takes ownership of {@code payload}. Runs
     * {@code onAnswered} once the request is over (answered or failed) and {@code onRetire} once the payload is let
     * go (answered, covered by a FLUSH where acks are not durable, or failed), both on a network thread and before
     * the future completes on the callback executor: they must not block.
     */
    public CompletableFuture<Void> submit(int flags, NbdCommand cmd, long offset, int length, ByteBuf payload,
                                          byte[] target, int targetOffset, Runnable onAnswered, Runnable onRetire) {
        CompletableFuture<Void> result = new CompletableFuture<>();
        attempt(new Req(seqs.incrementAndGet(), flags, cmd, offset, length, payload, target, targetOffset, result,
                onAnswered, onRetire, false));
        return result;
    }

    private void attempt(Req r) {
        Connection c;
        Slot slot;
        synchronized (this) {
            if (failure != null || closed) {
                fail(r, failure != null ? failure : clientClosed());
                return;
            }
            slot = gated ? null : pick();
            if (slot == null) {
                waiting.add(r);
                return;
            }
            c = slot.connection;
            if (r.cmd == NbdCommand.FLUSH) {
                r.covers = acks; // NBD's FLUSH covers the writes answered before it was sent
            }
        }
        send(slot, c, r);
    }

    /** The next live slot, round robin; {@code null} when none is live. */
    private Slot pick() {
        for (int i = 0; i < slots.length; i++) {
            Slot s = slots[next++ % slots.length];
            if (s.connection != null) {
                return s;
            }
        }
        return null;
    }

    private void send(Slot slot, Connection c, Req r) {
        // The connection releases what it sends, and sending moves the buffer's reader index: it gets a duplicate.
        c.submit(r.flags, r.cmd, r.offset, r.length, r.payload.retainedDuplicate(), r.target, r.targetOffset)
                .whenComplete((v, e) -> {
                    if (e == null) {
                        answered(r);
                    } else if (e instanceof ConnectionLostException lost) {
                        r.sent |= lost.sent();
                        lost(slot, c, r, lost);
                    } else {
                        r.over();
                        r.retire();
                        if (finished(r)) {
                            autoFlush();
                        }
                        callbacks.execute(() -> r.result.completeExceptionally(e));
                    }
                });
    }

    /** A request's connection died before its answer: it waits for that slot to be fenced and reconnected. */
    private void lost(Slot slot, Connection c, Req r, ConnectionLostException cause) {
        RbdException f;
        boolean reconnecting = policy.reconnectWait().toMillis() > 0;
        synchronized (this) {
            f = failure != null ? failure : closed ? clientClosed() : null;
            if (f == null && reconnecting) {
                replayed.incrementAndGet();
                if (slot.connection == c || slot.reconnecting) {
                    slot.orphans.add(r);
                    connectionLost(slot, c);
                    return;
                }
            }
        }
        if (f == null && reconnecting) {
            attempt(r); // the slot already came back, so the dead connection was fenced
        } else {
            fail(r, f != null && reconnecting ? f : cause); // without reconnecting, the connection's own reason
        }
    }

    private void answered(Req r) {
        boolean retain = r.changesData() && !durableAcks && (r.flags & NbdConstants.CMD_FLAG_FUA) == 0;
        List<Req> covered = List.of();
        boolean flush = false;
        synchronized (this) {
            retain &= !closed; // after close() nothing is kept any more
            if (retain && !r.retired.get()) {
                r.ackSeq = ++acks;
                unflushed.add(r);
                unflushedBytes += r.payload.readableBytes() + 64;
                if (unflushedBytes >= policy.autoFlushBytes() && !autoFlushing) {
                    autoFlushing = true;
                    flush = true;
                }
            } else if (r.cmd == NbdCommand.FLUSH) {
                covered = coveredBy(r.covers);
            }
        }
        r.over();
        if (!retain) {
            r.retire();
        }
        covered.forEach(Req::retire);
        flush |= finished(r);
        if (flush) {
            autoFlush();
        }
        callbacks.execute(() -> r.result.complete(null));
    }

    /** A FLUSH of the session's own, so acknowledged writes can be let go. */
    private void autoFlush() {
        attempt(new Req(seqs.incrementAndGet(), 0, NbdCommand.FLUSH, 0, 0, Unpooled.EMPTY_BUFFER, null, 0,
                new CompletableFuture<>(), () -> { }, () -> { }, true));
    }

    /** After an own FLUSH ended: whether another is due, since enough acknowledged writes are kept again. */
    private synchronized boolean finished(Req r) {
        if (!r.internal) {
            return false;
        }
        autoFlushing = unflushedBytes >= policy.autoFlushBytes() && failure == null && !closed;
        return autoFlushing;
    }

    private List<Req> coveredBy(long covers) {
        List<Req> out = new ArrayList<>();
        while (!unflushed.isEmpty() && unflushed.peekFirst().ackSeq <= covers) {
            Req w = unflushed.pollFirst();
            unflushedBytes -= w.payload.readableBytes() + 64;
            out.add(w);
        }
        return out;
    }

    private static RbdException clientClosed() {
        return new RbdException("the client was closed");
    }

    private void fail(Req r, RbdException cause) {
        r.over();
        r.retire();
        if (r.internal) {
            synchronized (this) {
                autoFlushing = false;
            }
            log.warn("flush to let go of acknowledged writes failed: {}", cause.getMessage());
        }
        RbdException e = r.sent && r.changesData() ? new OutcomeUnknownException(r.cmd + " at "
                + Long.toUnsignedString(r.offset) + "+" + r.length + " was sent but never answered ("
                + cause.getMessage() + "); it may or may not have taken effect", cause) : cause;
        callbacks.execute(() -> r.result.completeExceptionally(e));
    }

    private void watch(Slot slot, Connection c) {
        c.channel().closeFuture().addListener(f -> {
            synchronized (this) {
                connectionLost(slot, c);
            }
        });
    }

    /** Called with the lock held. */
    private void connectionLost(Slot slot, Connection c) {
        if (slot.connection != c || closed) {
            return;
        }
        slot.connection = null;
        if (policy.reconnectWait().toMillis() <= 0) {
            if (failure == null) {
                failure = new RbdException("connection lost and reconnecting is disabled");
            }
            failAll();
            return;
        }
        if (Arrays.stream(slots).allMatch(s -> s.connection == null) && !unflushed.isEmpty()) {
            replayUnflushed = true; // the server may have gone with them
        }
        if (!slot.reconnecting) {
            slot.reconnecting = true;
            Thread t = new Thread(() -> reconnect(slot), "rbd-reconnect-" + slot.index);
            t.setDaemon(true);
            t.start();
        }
    }

    /** Called with the lock held, once {@link #failure} is set: everything kept is failed and let go. */
    private void failAll() {
        List<Req> rest = new ArrayList<>(waiting);
        waiting.clear();
        for (Slot s : slots) {
            rest.addAll(s.orphans);
            s.orphans.clear();
        }
        List<Req> kept = new ArrayList<>(unflushed);
        unflushed.clear();
        unflushedBytes = 0;
        RbdException f = failure;
        CompletableFuture.runAsync(() -> {
            rest.forEach(r -> fail(r, f));
            kept.forEach(Req::retire);
        });
    }

    private void reconnect(Slot slot) {
        long deadline = System.nanoTime() + policy.reconnectWait().toNanos();
        long delay = policy.backoffInitial().toMillis();
        RbdException last = null;
        while (System.nanoTime() < deadline) {
            long epoch;
            synchronized (this) {
                if (closed || failure != null) {
                    slot.reconnecting = false;
                    return;
                }
                epoch = ++slot.epoch;
            }
            // backoff with jitter: between half and all of the current delay
            pause(delay / 2 + ThreadLocalRandom.current().nextLong(delay / 2 + 1));
            try {
                Established e = connector.connect(slot.index, epoch);
                if (e.info().size() != info.size() || e.info().readOnly() != info.readOnly()) {
                    e.connection().channel().close();
                    last = new RbdException("the export changed across the reconnect (size " + info.size() + " -> "
                            + e.info().size() + ", read-only " + info.readOnly() + " -> " + e.info().readOnly()
                            + "); not replaying");
                    break;
                }
                if (!e.info().fencing()) {
                    log.info("reconnected slot {}; the server cannot fence the old connection, waiting {} ms for "
                            + "its requests to drain before replaying", slot.index, policy.quiescence().toMillis());
                    pause(policy.quiescence().toMillis());
                } else {
                    log.info("reconnected slot {} (epoch {}); the old connection is fenced", slot.index, epoch);
                }
                resume(slot, e);
                return;
            } catch (RuntimeException ex) {
                // an RbdException from the handshake, or anything else from a connection torn down midway: the
                // reconnect thread must not die and leave requests waiting for it
                last = ex instanceof RbdException r ? r : new RbdException("reconnect failed: " + ex, null, ex);
                delay = Math.min(delay * 2, policy.backoffMax().toMillis());
            }
        }
        synchronized (this) {
            slot.reconnecting = false;
            if (failure == null) {
                failure = new RbdException("server unreachable for " + policy.reconnectWait().toMillis() + " ms"
                        + (last != null ? ": " + last.getMessage() : ""), null, last);
            }
            failAll();
        }
    }

    /** A slot is back: replay (unflushed writes first where needed), then let everything else go. */
    private void resume(Slot slot, Established e) {
        List<Req> replay;
        List<Req> again = List.of();
        synchronized (this) {
            if (closed) {
                e.connection().channel().close();
                slot.reconnecting = false;
                return;
            }
            if (e.serverInstance() != 0 && serverInstance != 0 && e.serverInstance() != serverInstance
                    && !unflushed.isEmpty()) {
                replayUnflushed = true; // a new server process: what it acknowledged without a sync may be gone
            }
            serverInstance = e.serverInstance();
            slot.connection = e.connection();
            slot.reconnecting = false;
            reconnects++;
            replay = new ArrayList<>(slot.orphans);
            slot.orphans.clear();
            replay.addAll(waiting);
            waiting.clear();
            if (replayUnflushed && !gated) {
                gated = true;
                replayUnflushed = false;
                again = new ArrayList<>(unflushed);
            }
        }
        watch(slot, e.connection());
        replay.sort(Comparator.comparingLong(r -> r.seq));
        if (!again.isEmpty()) {
            replayUnflushed(slot, e.connection(), again);
        }
        replay.forEach(this::attempt);
    }

    /**
     * Writes the acknowledged-but-unflushed writes again, in acknowledgement order, overlapping ones one after the
     * other, while everything else waits; on failure the next reconnect tries again.
     */
    private void replayUnflushed(Slot slot, Connection c, List<Req> writes) {
        log.info("replaying {} acknowledged but unflushed write(s) the server may have lost", writes.size());
        OverlapIndex order = new OverlapIndex();
        List<CompletableFuture<Void>> all = new ArrayList<>();
        for (Req w : writes) {
            OverlapIndex.Admission a = order.admit(w.offset, w.length, true);
            all.add(a.ready().thenCompose(v -> c.submit(w.flags, w.cmd, w.offset, w.length,
                    w.payload.retainedDuplicate(), null, 0)).whenComplete((v, ex) -> a.entry().release()));
        }
        CompletableFuture<Void> done = CompletableFuture.allOf(all.toArray(new CompletableFuture<?>[0]));
        try {
            done.get(policy.reconnectWait().toMillis(), TimeUnit.MILLISECONDS);
        } catch (Exception ex) {
            Throwable cause = ex.getCause() != null ? ex.getCause() : ex;
            synchronized (this) {
                gated = false;
                if (cause instanceof ConnectionLostException) {
                    replayUnflushed = true; // the next reconnect tries again
                } else if (failure == null) {
                    failure = new RbdException("replaying acknowledged writes the server may have lost failed: "
                            + cause.getMessage(), null, cause);
                    failAll();
                }
            }
            releaseGate();
            return;
        }
        synchronized (this) {
            gated = false;
        }
        releaseGate();
    }

    private void releaseGate() {
        List<Req> held;
        synchronized (this) {
            held = new ArrayList<>(waiting);
            waiting.clear();
        }
        held.sort(Comparator.comparingLong(r -> r.seq));
        held.forEach(this::attempt);
    }

    private static void pause(long ms) {
        try {
            Thread.sleep(ms); // backoff between reconnect attempts: nothing to await but time
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** The live connections (fewer than the slots while some reconnect). */
    public synchronized List<Connection> connections() {
        return Arrays.stream(slots).map(s -> s.connection).filter(Objects::nonNull).toList();
    }

    /** Connections the session keeps (its slots). */
    public int slots() {
        return slots.length;
    }

    /** Successful reconnects so far. */
    public synchronized int reconnects() {
        return reconnects;
    }

    /** Requests caught by a dead connection and sent again. */
    public long replayed() {
        return replayed.get();
    }

    /** Bytes of acknowledged writes kept until a FLUSH covers them. */
    public synchronized long unflushedBytes() {
        return unflushedBytes;
    }

    /** The session's failure once it stopped accepting work, else {@code null}. */
    public synchronized RbdException failure() {
        return failure;
    }

    /**
     * Stops reconnecting and lets go of what it kept: requests still waiting for a connection fail; those in
     * flight fail as their connections close. Returns the live connections.
     */
    public List<Connection> close() {
        List<Req> kept;
        List<Req> rest = new ArrayList<>();
        List<Connection> live;
        synchronized (this) {
            closed = true;
            kept = new ArrayList<>(unflushed);
            unflushed.clear();
            unflushedBytes = 0;
            rest.addAll(waiting);
            waiting.clear();
            for (Slot s : slots) {
                rest.addAll(s.orphans);
                s.orphans.clear();
            }
            live = Arrays.stream(slots).map(s -> s.connection).filter(Objects::nonNull).toList();
        }
        kept.forEach(Req::retire);
        rest.forEach(r -> fail(r, clientClosed()));
        return live;
    }
}
