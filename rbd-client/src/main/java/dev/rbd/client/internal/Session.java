package dev.rbd.client.internal;

import dev.rbd.client.ExportInfo;
import dev.rbd.client.RbdException;
import dev.rbd.protocol.NbdCommand;
import io.netty.channel.Channel;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicLong;

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
 * {@link dev.rbd.client.OutcomeUnknownException}, and the session accepts no more work.
 *
 * <p>The parts: {@link Reconnect} brings a slot back, {@link Unflushed} keeps acknowledged writes,
 * {@link ReplayGate} decides when they are written again, {@link Answers} retires and completes requests.
 */
public final class Session implements Request.Sink, Reconnect.Target {
    private final Answers answers;
    private final Dialer dialer;
    private final Policy policy;
    private final ExportInfo info;
    private final Slots slots;
    private final Unflushed unflushed;
    private final ReplayGate gate;
    private final AtomicLong seqs = new AtomicLong();
    private final AtomicLong replayed = new AtomicLong();
    /** Requests with no live connection to go to, or held back while unflushed writes are replayed. */
    private final List<Request> waiting = new ArrayList<>();
    private boolean closed;
    private RbdException failure;
    private int reconnects;

    /**
     * @param first     one established connection per slot, slot 0 first, all of the same export
     * @param dialer    opens the connections a reconnect needs, and times the reconnects
     * @param callbacks where callers' futures complete; the session's own bookkeeping (letting go of payloads and
     *                  budget) runs on the network thread, so a caller blocked in a callback cannot stall it
     */
    public Session(List<Established> first, Dialer dialer, Policy policy, Executor callbacks) {
        this.dialer = dialer;
        this.policy = policy;
        this.info = first.get(0).info();
        this.unflushed = new Unflushed(policy.autoFlushBytes());
        this.answers = new Answers(info, unflushed, callbacks, this::submit, () -> stoppedBy() != null);
        this.gate = new ReplayGate(unflushed, first.get(0).serverInstance());
        this.slots = new Slots(first);
        for (int i = 0; i < first.size(); i++) {
            watch(slots.get(i), first.get(i).connection());
        }
    }

    /** Sends a request now, or keeps it until a connection is back; the session owns it from here. */
    public CompletableFuture<Void> submit(Request r) {
        r.seq = seqs.incrementAndGet();
        attempt(r);
        return r.result;
    }

    private void attempt(Request r) {
        Connection c;
        Slot slot;
        RbdException f;
        synchronized (this) {
            f = stoppedBy();
            slot = f != null || gate.isShut() ? null : slots.pick();
            if (slot == null) {
                if (f == null) {
                    waiting.add(r);
                    return;
                }
            } else if (r.command == NbdCommand.FLUSH) {
                r.covers = unflushed.acks(); // NBD's FLUSH covers the writes answered before it was sent
            }
            c = slot != null ? slot.connection : null;
        }
        if (f != null) {
            answers.fail(r, f);
            return;
        }
        r.slot = slot.index;
        r.sink = this;
        c.submit(r);
    }

    @Override
    public void replied(Request r, Channel via, RbdException e) {
        if (e == null) {
            answers.answered(r);
        } else if (e instanceof ConnectionLostException lost) {
            r.sent |= lost.sent();
            lost(slots.get(r.slot), via, r, lost);
        } else {
            answers.refused(r, e);
        }
    }

    /** A request's connection died before its answer: it waits for that slot to be fenced and reconnected. */
    private void lost(Slot slot, Channel via, Request r, ConnectionLostException cause) {
        RbdException f;
        boolean reconnecting = policy.reconnectWait().toMillis() > 0;
        synchronized (this) {
            f = stoppedBy();
            if (f == null && reconnecting) {
                replayed.incrementAndGet();
                Connection c = slot.connection;
                boolean current = c != null && c.channel() == via;
                if (current || slot.reconnecting) {
                    slot.orphans.add(r);
                    if (current) {
                        connectionLost(slot, c);
                    }
                    return;
                }
            }
        }
        if (f == null && reconnecting) {
            attempt(r); // the slot already came back, so the dead connection was fenced
        } else {
            // without reconnecting, the connection's own reason
            answers.fail(r, f != null && reconnecting ? f : cause);
        }
    }

    /** Why the session takes no more work, or {@code null} while it does. */
    private synchronized RbdException stoppedBy() {
        return failure != null ? failure : closed ? clientClosed() : null;
    }

    private static RbdException clientClosed() {
        return new RbdException("the client was closed");
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
        if (slots.allDead()) {
            gate.allConnectionsLost();
        }
        if (!slot.reconnecting) {
            slot.reconnecting = true;
            new Reconnect(slot.index, this, dialer::dial, dialer.scheduler(), policy, info).next();
        }
    }

    /** Called with the lock held, once {@link #failure} is set: everything kept is failed and let go. */
    private void failAll() {
        List<Request> rest = takeWaiting();
        List<Request> kept = unflushed.drain(false);
        RbdException f = failure;
        CompletableFuture.runAsync(() -> {
            rest.forEach(r -> answers.fail(r, f));
            kept.forEach(Request::retire);
        });
    }

    /** Called with the lock held: takes the requests waiting for a connection, and every slot's orphans. */
    private List<Request> takeWaiting() {
        List<Request> rest = new ArrayList<>(waiting);
        waiting.clear();
        slots.takeOrphans(rest);
        return rest;
    }

    @Override
    public synchronized long nextEpoch(int index) {
        if (closed || failure != null) {
            slots.get(index).reconnecting = false;
            return -1;
        }
        return ++slots.get(index).epoch;
    }

    @Override
    public synchronized void giveUp(int index, RbdException f) {
        slots.get(index).reconnecting = false;
        if (failure == null && !closed) {
            failure = f;
        }
        if (!closed) {
            failAll();
        }
    }

    /** A slot is back: replay (unflushed writes first where needed), then let everything else go. */
    @Override
    public void resume(int index, Established e) {
        Slot slot = slots.get(index);
        List<Request> replay;
        List<Request> again;
        synchronized (this) {
            if (closed) {
                e.connection().channel().close();
                slot.reconnecting = false;
                return;
            }
            slot.connection = e.connection();
            slot.reconnecting = false;
            reconnects++;
            replay = new ArrayList<>(slot.orphans);
            slot.orphans.clear();
            replay.addAll(waiting);
            waiting.clear();
            again = gate.reconnected(e.serverInstance());
        }
        watch(slot, e.connection());
        replay.sort(Comparator.comparingLong(r -> r.seq));
        if (!again.isEmpty()) {
            // while they are written again nothing else is sent: the rest waits for the gate to open
            UnflushedReplay.run(e.connection(), again, dialer.scheduler(), policy.reconnectWait())
                    .whenComplete((v, ex) -> replayEnded(ex));
        }
        replay.forEach(this::attempt);
    }

    /** The unflushed writes were written again, or could not be: open the gate; if lost, the next reconnect retries. */
    private void replayEnded(Throwable ex) {
        Throwable cause = ex instanceof CompletionException && ex.getCause() != null ? ex.getCause() : ex;
        List<Request> held;
        synchronized (this) {
            gate.opened(cause instanceof ConnectionLostException);
            if (cause != null && !(cause instanceof ConnectionLostException) && failure == null && !closed) {
                failure = new RbdException("replaying acknowledged writes the server may have lost failed: "
                        + cause.getMessage(), null, cause);
                failAll();
            }
            held = new ArrayList<>(waiting);
            waiting.clear();
        }
        held.sort(Comparator.comparingLong(r -> r.seq));
        held.forEach(this::attempt);
    }

    /** The live connections (fewer than the slots while some reconnect). */
    public synchronized List<Connection> connections() {
        return slots.live();
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
    public long unflushedBytes() {
        return unflushed.bytes();
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
        List<Request> kept;
        List<Request> rest;
        List<Connection> live;
        synchronized (this) {
            closed = true;
            kept = unflushed.drain(true);
            rest = takeWaiting();
            live = connections();
        }
        kept.forEach(Request::retire);
        rest.forEach(r -> answers.fail(r, clientClosed()));
        return live;
    }
}
