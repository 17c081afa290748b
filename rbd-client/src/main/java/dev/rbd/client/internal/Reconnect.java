package dev.rbd.client.internal;

import dev.rbd.client.ExportChangedException;
import dev.rbd.client.ExportInfo;
import dev.rbd.client.RbdException;
import dev.rbd.client.TlsFailedException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One slot's way back after its connection died: attempts after an exponential backoff with jitter, each with a
 * new epoch, until one connects to the same export or the reconnect wait runs out. Every step is scheduled and
 * every dial is a future, so no thread waits for the server.
 */
final class Reconnect {
    private static final Logger log = LoggerFactory.getLogger(Reconnect.class);

    /** The session whose slot this brings back. */
    interface Target {
        /** The epoch for the next attempt, or -1 when the session stopped (closed or failed). */
        long nextEpoch(int slot);

        /** The slot's new connection, fenced or quiet: replay onto it. */
        void resume(int slot, Established e);

        /** No way back: the session fails with {@code failure}. */
        void giveUp(int slot, RbdException failure);
    }

    /** Opens a connection for a slot at an epoch ({@link Dialer#dial}). */
    @FunctionalInterface
    interface Dial {
        CompletableFuture<Established> dial(int slot, long epoch);
    }

    private final int slot;
    private final Target target;
    private final Dial dialer;
    private final ScheduledExecutorService scheduler;
    private final Policy policy;
    private final ExportInfo info;
    private final long deadline;
    private long delay;
    private RbdException last;

    Reconnect(int slot, Target target, Dial dialer, ScheduledExecutorService scheduler, Policy policy,
              ExportInfo info) {
        this.slot = slot;
        this.target = target;
        this.dialer = dialer;
        this.scheduler = scheduler;
        this.policy = policy;
        this.info = info;
        this.deadline = System.nanoTime() + policy.reconnectWait().toNanos();
        this.delay = policy.backoffInitial().toMillis();
    }

    /** Schedules the next attempt, or gives up once the reconnect wait has passed. */
    void next() {
        if (System.nanoTime() - deadline >= 0) {
            target.giveUp(slot, new RbdException("server unreachable for " + policy.reconnectWait().toMillis() + " ms"
                    + (last != null ? ": " + last.getMessage() : ""), null, last));
            return;
        }
        long epoch = target.nextEpoch(slot);
        if (epoch < 0) {
            return;
        }
        // backoff with jitter: between half and all of the current delay
        schedule(() -> attempt(epoch), delay / 2 + ThreadLocalRandom.current().nextLong(delay / 2 + 1));
    }

    private void attempt(long epoch) {
        try {
            dialer.dial(slot, epoch).whenComplete((e, ex) -> {
                if (ex != null) {
                    failed(ex);
                    return;
                }
                try {
                    connected(e, epoch);
                } catch (RuntimeException x) {
                    e.connection().channel().close();
                    failed(x);
                }
            });
        } catch (RuntimeException ex) {
            failed(ex);
        }
    }

    private void failed(Throwable ex) {
        // an RbdException from the handshake, or anything else from a connection torn down midway: the slot must
        // not stop trying and leave requests waiting for it (a dial's later stages wrap its failure)
        Throwable cause = ex instanceof CompletionException && ex.getCause() != null ? ex.getCause() : ex;
        if (cause instanceof TlsFailedException tls && tls.refused()) {
            // the server refused TLS or a certificate: asking again gets the same answer, so the session fails with
            // the reason instead of spinning until the reconnect wait runs out (a connection that merely ended
            // during TLS is tried again, with TLS, like any other failed attempt)
            log.warn("reconnect of slot {} failed TLS, giving up: {}", slot, tls.detail());
            target.giveUp(slot, tls);
            return;
        }
        last = cause instanceof RbdException r ? r : new RbdException("reconnect failed: " + cause, null, cause);
        delay = Math.min(delay * 2, policy.backoffMax().toMillis());
        next();
    }

    private void connected(Established e, long epoch) {
        if (e.info().size() != info.size() || e.info().readOnly() != info.readOnly()) {
            e.connection().channel().close();
            target.giveUp(slot, new ExportChangedException(info, e.info()));
            return;
        }
        if (!e.info().fencing()) {
            log.info("reconnected slot {}; the server cannot fence the old connection, waiting {} ms for its "
                    + "requests to drain before replaying", slot, policy.quiescence().toMillis());
            schedule(() -> target.resume(slot, e), policy.quiescence().toMillis());
        } else {
            log.info("reconnected slot {} (epoch {}); the old connection is fenced", slot, epoch);
            target.resume(slot, e);
        }
    }

    private void schedule(Runnable step, long millis) {
        try {
            scheduler.schedule(step, millis, TimeUnit.MILLISECONDS);
        } catch (RejectedExecutionException e) {
            // the client is closing: its event loops take no more work
            target.giveUp(slot, new RbdException("the client was closed"));
        }
    }
}
