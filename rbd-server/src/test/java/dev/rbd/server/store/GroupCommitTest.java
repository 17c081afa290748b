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
