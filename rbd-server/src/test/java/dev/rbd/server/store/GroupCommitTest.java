package dev.rbd.server.store;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Gathering: with a long bound on the wait (60 s), these tests fail by counting two syncs where one should do, or by
 * timing out, rather than by a race on the clock.
 */
class GroupCommitTest {
    private static final long LONG = TimeUnit.SECONDS.toNanos(60);

    private final CountingStore store = new CountingStore();
    private GroupCommit commit;

    @AfterEach
    void close() throws Exception {
        commit.close();
    }

    @Test
    void aSyncWaitsForAnnouncedWritesBeingWritten() throws Exception {
        commit = new GroupCommit(store, "t", LONG);
        commit.announce();
        commit.announce();
        CompletableFuture<Void> first = commit.sync(true);
        // the second announced write finishes only now; the sync must not have started without it
        CompletableFuture<Void> second = commit.sync(true);
        CompletableFuture.allOf(first, second).get(10, TimeUnit.SECONDS);
        assertThat(store.syncs).isEqualTo(1);
        assertThat(commit.syncs()).isEqualTo(1);
        assertThat(commit.requests()).isEqualTo(2);
    }

    @Test
    void aWithdrawnWriteReleasesTheWaitingSync() throws Exception {
        commit = new GroupCommit(store, "t", LONG);
        commit.announce();
        commit.announce();
        CompletableFuture<Void> first = commit.sync(true);
        commit.withdraw();
        // with the wait bounded at 30 s (half of LONG), only the withdrawal can end it this soon
        first.get(10, TimeUnit.SECONDS);
        assertThat(store.syncs).isEqualTo(1);
    }

    @Test
    void aSyncWaitsForAsManyRequestsAsTheLastBatchHeld() throws Exception {
        commit = new GroupCommit(store, "t", LONG);
        announcedBatchOf(4);
        assertThat(store.syncs).isEqualTo(1);

        // the same client sends its 4 writes again, one by one, none announced in advance
        List<CompletableFuture<Void>> batch = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            batch.add(commit.sync(false));
        }
        CompletableFuture.allOf(batch.toArray(CompletableFuture[]::new)).get(10, TimeUnit.SECONDS);
        assertThat(store.syncs).isEqualTo(2);
    }

    @Test
    void gatheringIsBoundedByHalfTheRecentSyncTime() throws Exception {
        commit = new GroupCommit(store, "t", TimeUnit.MILLISECONDS.toNanos(200));
        commit.announce();
        long start = System.nanoTime();
        // the announced write never reports; the sync still runs, after at most 100 ms
        commit.sync(false).get(10, TimeUnit.SECONDS);
        assertThat(store.syncs).isEqualTo(1);
        assertThat(commit.gatheringNanos()).isLessThan(TimeUnit.SECONDS.toNanos(5));
        assertThat(System.nanoTime() - start).isLessThan(TimeUnit.SECONDS.toNanos(5));
    }

    @Test
    void aLoneWriterSyncsOnItsOwnThread() throws Exception {
        commit = new GroupCommit(store, "t", LONG);
        CompletableFuture<Void> f = commit.syncHere(false);
        // ran here: complete on return, no hand-off to the sync thread
        assertThat(f).isCompleted();
        assertThat(store.lastSyncThread).isSameAs(Thread.currentThread());
    }

    @Test
    void largeBatchesAreLeftToTheSyncThread() throws Exception {
        commit = new GroupCommit(store, "t", TimeUnit.MILLISECONDS.toNanos(200));
        announcedBatchOf(4);
        // recent batches held 4: this caller does not become the syncing thread
        commit.syncHere(false).get(10, TimeUnit.SECONDS);
        assertThat(store.lastSyncThread).isNotSameAs(Thread.currentThread());
    }

    @Test
    void aFailedSyncFailsItsBatchAndEveryLaterRequest() throws Exception {
        commit = new GroupCommit(store, "t", TimeUnit.MILLISECONDS.toNanos(1));
        store.fail = true;
        CompletableFuture<Void> f = commit.sync();
        assertThat(f).failsWithin(10, TimeUnit.SECONDS);
        assertThat(commit.failure()).isNotNull();
        assertThat(commit.sync()).isCompletedExceptionally();
    }

    @Test
    void aSecondStepRunsWhileTheNextBatchSyncsAndItsBatchWaitsForIt() throws Exception {
        TwoStepStore two = new TwoStepStore();
        commit = new GroupCommit(two, "t", LONG);
        announcedBatchOfThree(two);
        CompletableFuture<Void> first = threeSyncs();
        assertThat(two.secondStepStarted.poll(10, TimeUnit.SECONDS)).isNotNull();
        // the first batch's second step is held; the next batch's first step runs meanwhile
        CompletableFuture<Void> second = threeSyncs();
        assertThat(two.firstSteps.poll(10, TimeUnit.SECONDS)).isNotNull();
        assertThat(first).isNotDone();
        assertThat(second).isNotDone();
        two.release.release(2);
        CompletableFuture.allOf(first, second).get(10, TimeUnit.SECONDS);
        assertThat(commit.syncs()).isEqualTo(3);
    }

    @Test
    void aFailedSecondStepFailsItsBatchAndEveryLaterRequest() throws Exception {
        TwoStepStore two = new TwoStepStore();
        commit = new GroupCommit(two, "t", LONG);
        two.failSecond = true;
        two.release.release(100);
        CompletableFuture<Void> f = threeSyncs();
        assertThat(f).failsWithin(10, TimeUnit.SECONDS);
        assertThat(commit.failure()).isNotNull();
        assertThat(commit.sync()).failsWithin(10, TimeUnit.SECONDS);
        assertThat(two.secondSteps).isEqualTo(1);
    }

    /** A batch of three (large enough that its second step goes to the second thread); returns when all are done. */
    private void announcedBatchOfThree(TwoStepStore two) throws Exception {
        two.release.release(1);
        threeSyncs().get(10, TimeUnit.SECONDS);
        two.firstSteps.clear();
        two.secondStepStarted.clear();
    }

    /** Three announced writes asking for their sync: one batch; completes when all three do. */
    private CompletableFuture<Void> threeSyncs() {
        List<CompletableFuture<Void>> batch = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            commit.announce();
        }
        for (int i = 0; i < 3; i++) {
            batch.add(commit.sync(true));
        }
        return CompletableFuture.allOf(batch.toArray(CompletableFuture[]::new));
    }

    /** Announces {@code n} writes, then asks a sync for each, and waits for them. */
    private void announcedBatchOf(int n) throws Exception {
        List<CompletableFuture<Void>> batch = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            commit.announce();
        }
        for (int i = 0; i < n; i++) {
            batch.add(commit.sync(true));
        }
        CompletableFuture.allOf(batch.toArray(CompletableFuture[]::new)).get(10, TimeUnit.SECONDS);
    }

    /** A store whose sync has two steps; each second step waits for a permit of {@code release}. */
    private static final class TwoStepStore extends RecordingStore {
        final java.util.concurrent.BlockingQueue<Integer> firstSteps = new java.util.concurrent.LinkedBlockingQueue<>();
        final java.util.concurrent.BlockingQueue<Integer> secondStepStarted =
                new java.util.concurrent.LinkedBlockingQueue<>();
        final java.util.concurrent.Semaphore release = new java.util.concurrent.Semaphore(0);
        volatile boolean failSecond;
        volatile int secondSteps;

        TwoStepStore() {
            super(new MemoryBlockStore(1 << 20));
        }

        @Override
        public SyncStep syncStaged() {
            firstSteps.add(1);
            return () -> {
                secondStepStarted.add(1);
                secondSteps++;
                try {
                    if (!release.tryAcquire(30, TimeUnit.SECONDS)) {
                        throw new IOException("never released");
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IOException(e);
                }
                if (failSecond) {
                    throw new IOException("map write failed");
                }
            };
        }
    }

    /** A store whose sync only counts (or fails). */
    private static final class CountingStore extends RecordingStore {
        volatile int syncs;
        volatile boolean fail;
        volatile Thread lastSyncThread;

        CountingStore() {
            super(new MemoryBlockStore(1 << 20));
        }

        @Override
        public void sync() throws IOException {
            if (fail) {
                throw new IOException("disk gone");
            }
            syncs++;
            lastSyncThread = Thread.currentThread();
        }
    }
}
