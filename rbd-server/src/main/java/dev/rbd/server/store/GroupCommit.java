package dev.rbd.server.store;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Group commit: every caller of {@link #sync()} whose write has completed gets a future that completes after a sync
 * that started after the call. While one sync runs, the next batch gathers; one sync then serves the whole batch.
 *
 * <p>A failed sync fails its whole batch with {@link SyncFailedException} and poisons the commit: every later call
 * fails at once, because after an fdatasync error Linux may have dropped the dirty pages and a later sync could
 * "succeed" without them.
 */
public final class GroupCommit implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(GroupCommit.class);

    private final BlockStore store;
    private final String name;
    private final ExecutorService thread;
    private final AtomicLong syncs = new AtomicLong();
    private final AtomicLong requests = new AtomicLong();
    private List<CompletableFuture<Void>> waiting = new ArrayList<>();
    private boolean running;
    private SyncFailedException failure;

    public GroupCommit(BlockStore store, String name) {
        this.store = store;
        this.name = name;
        this.thread = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "rbd-sync-" + name);
            t.setDaemon(true);
            return t;
        });
    }

    /** A future that completes once a sync that started after this call has finished. */
    public CompletableFuture<Void> sync() {
        requests.incrementAndGet();
        CompletableFuture<Void> f = new CompletableFuture<>();
        boolean start;
        synchronized (this) {
            if (failure != null) {
                f.completeExceptionally(failure);
                return f;
            }
            waiting.add(f);
            start = !running;
            running = true;
        }
        if (start) {
            thread.execute(this::drain);
        }
        return f;
    }

    private void drain() {
        for (;;) {
            List<CompletableFuture<Void>> batch;
            synchronized (this) {
                if (waiting.isEmpty()) {
                    running = false;
                    return;
                }
                batch = waiting;
                waiting = new ArrayList<>();
            }
            try {
                store.sync();
                syncs.incrementAndGet();
                batch.forEach(f -> f.complete(null));
            } catch (IOException | RuntimeException e) {
                SyncFailedException failed = new SyncFailedException(name + ": sync failed, " + batch.size()
                        + " writes may be lost; the export refuses writes until it is reopened", e);
                log.error("{}", failed.getMessage(), e);
                List<CompletableFuture<Void>> rest;
                synchronized (this) {
                    failure = failed;
                    rest = waiting;
                    waiting = new ArrayList<>();
                    running = false;
                }
                batch.forEach(f -> f.completeExceptionally(failed));
                rest.forEach(f -> f.completeExceptionally(failed));
                return;
            }
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
    }
}
