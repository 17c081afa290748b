package dev.rbd.server.store;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Group commit: every caller of {@link #sync()} whose write has completed gets a future that completes after a sync
 * that started after the call. While one sync runs, the next batch gathers; one sync then serves the whole batch.
 *
 * <p>Before a sync starts, it gathers: it waits, at most half the recent sync time, until writes announced to it
 * (see {@link #announce()}) have been written and as many requests wait as the recent batches held. A client with
 * 32 writes in flight sends the 32 writes of the last batch again as their replies reach it; without the wait, the
 * first of them to arrive would start a sync of its own and leave the rest to the next one, so that two syncs share
 * the 32 writes where one would do. Syncs take the same time whatever the batch, so one batch of 32 is almost twice
 * the throughput of two of 16.
 *
 * <p>A store whose sync has two steps ({@link BlockStore#syncStaged()}: a persistent overlay syncs its data, then
 * writes and syncs its block map) has each batch's second step run on a thread of its own, while the next batch
 * gathers and runs its first step: two fdatasyncs of different files overlap instead of adding up. At most
 * {@link #MAX_SECOND_STEPS} second steps wait or run at once.
 *
 * <p>A failed sync fails its whole batch with {@link SyncFailedException} and poisons the commit: every later call
 * fails at once, because after an fdatasync error Linux may have dropped the dirty pages and a later sync could
 * "succeed" without them.
 */
public final class GroupCommit implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(GroupCommit.class);
    /** The longest a sync waits to gather its batch. */
    static final long MAX_GATHER_NANOS = TimeUnit.MILLISECONDS.toNanos(2);
    /** Batches up to this size may be synced by the thread that wrote them (see {@link #syncHere}). */
    static final int SMALL_BATCH = 2;
    /** Second steps of two-step syncs that may be waiting or running at once. */
    static final int MAX_SECOND_STEPS = 2;

    private final BlockStore store;
    private final String name;
    private final ExecutorService thread;
    /** Runs the second steps of two-step syncs, in order. */
    private final ExecutorService secondSteps;
    /** Second steps handed to {@link #secondSteps} and not finished (guarded by this). */
    private int pendingSecondSteps;
    private final AtomicLong syncs = new AtomicLong();
    private final AtomicLong requests = new AtomicLong();
    private final AtomicLong syncingNanos = new AtomicLong();
    private final AtomicLong gatheringNanos = new AtomicLong();
    private List<CompletableFuture<Void>> waiting = new ArrayList<>();
    private boolean running;
    /** Announced writes that have not yet asked for their sync (or withdrawn). */
    private int announced;
    /** Smoothed duration of recent syncs, in nanoseconds. */
    private long syncNanos;
    private final long maxGatherNanos;
    /** The batch size gathering waits for: the recent largest, decaying when batches shrink. */
    private int targetBatch;
    private boolean gathering;
    private SyncFailedException failure;

    public GroupCommit(BlockStore store, String name) {
        this(store, name, MAX_GATHER_NANOS);
    }

    /** With a bound on the wait for a batch other than the default 2 ms (tests make it long). */
    GroupCommit(BlockStore store, String name, long maxGatherNanos) {
        this.store = store;
        this.name = name;
        this.maxGatherNanos = maxGatherNanos;
        this.syncNanos = maxGatherNanos;
        // its threads end after a while without syncs: a room of clients' overlays, each an export with its own
        // group commit, keeps threads only for the clients that write
        this.thread = daemonThread("rbd-sync-" + name);
        this.secondSteps = daemonThread("rbd-sync2-" + name);
    }

    private static ExecutorService daemonThread(String threadName) {
        ThreadPoolExecutor t = new ThreadPoolExecutor(1, 1, 30, TimeUnit.SECONDS, new LinkedBlockingQueue<>(), r -> {
            Thread th = new Thread(r, threadName);
            th.setDaemon(true);
            return th;
        });
        t.allowCoreThreadTimeOut(true);
        return t;
    }

    /**
     * Announces a write that will call {@link #sync(boolean) sync(true)} once written, or {@link #withdraw()} if it is
     * not written after all. A sync about to start waits a little for announced writes.
     */
    public synchronized void announce() {
        announced++;
    }

    /** An announced write will not ask for a sync (it failed or was discarded). */
    public synchronized void withdraw() {
        if (--announced == 0) {
            notifyAll();
        }
    }

    /** A future that completes once a sync that started after this call has finished. */
    public CompletableFuture<Void> sync() {
        return sync(false);
    }

    /**
     * A future that completes once a sync that started after this call has finished.
     *
     * @param wasAnnounced this call ends an {@link #announce()}
     */
    public CompletableFuture<Void> sync(boolean wasAnnounced) {
        return sync(wasAnnounced, false);
    }

    /**
     * Like {@link #sync(boolean)}, but when no sync is running and recent batches were small (one or two requests:
     * a client with few writes in flight), the calling thread runs the syncs itself, until no request waits, and
     * returns only then (with the future complete). Saves waking the sync thread: 4k writes one at a time went from
     * 2.9-3.5k to 4.0-4.5k per second. For I/O threads, never for an event loop.
     *
     * @param wasAnnounced this call ends an {@link #announce()}
     */
    public CompletableFuture<Void> syncHere(boolean wasAnnounced) {
        return sync(wasAnnounced, true);
    }

    private CompletableFuture<Void> sync(boolean wasAnnounced, boolean here) {
        requests.incrementAndGet();
        CompletableFuture<Void> f = new CompletableFuture<>();
        boolean start;
        synchronized (this) {
            if (wasAnnounced && --announced == 0) {
                notifyAll();
            }
            if (failure != null) {
                f.completeExceptionally(failure);
                return f;
            }
            waiting.add(f);
            if (gathering && waiting.size() >= targetBatch) {
                notifyAll();
            }
            start = !running;
            running = true;
            // only for small batches: measured at 32 writes in flight, batches of 30 ran 3-5% slower this way
            here &= targetBatch <= SMALL_BATCH;
        }
        if (start) {
            if (here) {
                drain();
            } else {
                thread.execute(this::drain);
            }
        }
        return f;
    }

    private void drain() {
        for (;;) {
            List<CompletableFuture<Void>> batch;
            boolean inline;
            SyncFailedException poisoned;
            synchronized (this) {
                if (failure == null && !waiting.isEmpty()) {
                    gather();
                }
                batch = waiting;
                waiting = new ArrayList<>();
                poisoned = failure;
                if (poisoned != null || batch.isEmpty()) {
                    running = false;
                } else {
                    targetBatch = Math.max(batch.size(), targetBatch * 3 / 4);
                }
                // a small batch (few writes in flight) has nothing to overlap: its second step runs here, unless an
                // earlier one is still pending
                inline = batch.size() <= SMALL_BATCH && pendingSecondSteps == 0;
            }
            if (poisoned != null || batch.isEmpty()) {
                // after a failure (a second step's, seen here) every waiting request fails with it
                failAll(batch, poisoned);
                return;
            }
            BlockStore.SyncStep second;
            long start = System.nanoTime();
            try {
                second = store.syncStaged();
                if (second != null && inline) {
                    second.run();
                    second = null;
                }
            } catch (IOException | RuntimeException e) {
                failed(batch, e, true);
                return;
            }
            long took = System.nanoTime() - start;
            synchronized (this) {
                syncNanos += (took - syncNanos) / 4;
            }
            if (second == null) {
                synced(batch, took);
            } else {
                runSecondStep(batch, second, took);
            }
        }
    }

    /**
     * Hands a batch's second step to its thread, after waiting until fewer than {@link #MAX_SECOND_STEPS} are pending;
     * the batch completes when it has run.
     */
    private void runSecondStep(List<CompletableFuture<Void>> batch, BlockStore.SyncStep second, long firstTook) {
        boolean interrupted = false;
        synchronized (this) {
            while (pendingSecondSteps >= MAX_SECOND_STEPS) {
                try {
                    wait();
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
            pendingSecondSteps++;
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        Runnable step = () -> {
            try {
                SyncFailedException poisoned;
                synchronized (this) {
                    poisoned = failure;
                }
                if (poisoned != null) {
                    failAll(batch, poisoned);
                } else {
                    long start = System.nanoTime();
                    second.run();
                    synced(batch, firstTook + System.nanoTime() - start);
                }
            } catch (IOException | RuntimeException e) {
                failed(batch, e, false);
            } finally {
                synchronized (this) {
                    pendingSecondSteps--;
                    notifyAll();
                }
            }
        };
        try {
            secondSteps.execute(step);
        } catch (RejectedExecutionException e) {
            step.run(); // closing: run it here rather than leave the batch unanswered
        }
    }

    private void synced(List<CompletableFuture<Void>> batch, long took) {
        syncingNanos.addAndGet(took);
        syncs.incrementAndGet();
        batch.forEach(f -> f.complete(null));
    }

    /**
     * Poisons the commit: fails the batch, every waiting request and every later one.
     *
     * @param inDrain called by the draining thread, which stops: a second step's failure leaves the drain running
     *                until it sees the failure
     */
    private void failed(List<CompletableFuture<Void>> batch, Throwable e, boolean inDrain) {
        SyncFailedException failed = new SyncFailedException(name + ": sync failed, " + batch.size()
                + " writes may be lost; the export refuses writes until it is reopened", e);
        log.error("{}", failed.getMessage(), e);
        List<CompletableFuture<Void>> rest;
        SyncFailedException first;
        synchronized (this) {
            if (failure == null) {
                failure = failed;
            }
            first = failure;
            rest = waiting;
            waiting = new ArrayList<>();
            if (inDrain) {
                running = false;
            }
        }
        batch.forEach(f -> f.completeExceptionally(failed));
        failAll(rest, first);
    }

    private static void failAll(List<CompletableFuture<Void>> batch, SyncFailedException failure) {
        batch.forEach(f -> f.completeExceptionally(failure));
    }

    /**
     * Waits, holding the monitor, until no announced write is still being written and the batch is as large as the
     * recent ones, or half a sync's time has passed.
     */
    private void gather() {
        long left = Math.min(maxGatherNanos, syncNanos / 2);
        long begun = System.nanoTime();
        long deadline = begun + left;
        boolean interrupted = false;
        gathering = true;
        while ((announced > 0 || waiting.size() < targetBatch) && left > 0) {
            try {
                TimeUnit.NANOSECONDS.timedWait(this, left);
            } catch (InterruptedException e) {
                interrupted = true;
            }
            left = deadline - System.nanoTime();
        }
        gathering = false;
        gatheringNanos.addAndGet(System.nanoTime() - begun);
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /** The failure that poisoned this export, or {@code null}. */
    public synchronized SyncFailedException failure() {
        return failure;
    }

    /** Syncs run so far. */
    public long syncs() {
        return syncs.get();
    }

    /** Time spent in syncs so far, in nanoseconds. */
    public long syncingNanos() {
        return syncingNanos.get();
    }

    /** Time spent gathering batches before syncs so far, in nanoseconds. */
    public long gatheringNanos() {
        return gatheringNanos.get();
    }

    /** Calls to {@link #sync()} so far. */
    public long requests() {
        return requests.get();
    }

    @Override
    public void close() throws InterruptedException {
        thread.shutdown();
        if (!thread.awaitTermination(30, TimeUnit.SECONDS)) {
            log.warn("{}: sync thread did not finish in 30 s", name);
        }
        secondSteps.shutdown();
        if (!secondSteps.awaitTermination(30, TimeUnit.SECONDS)) {
            log.warn("{}: second sync thread did not finish in 30 s", name);
        }
    }
}
