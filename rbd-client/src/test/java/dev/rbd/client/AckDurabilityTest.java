package dev.rbd.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.rbd.server.RbdServer;
import dev.rbd.server.export.Export;
import dev.rbd.server.export.ServerConfig;
import dev.rbd.server.export.SyncMode;
import dev.rbd.server.store.MemoryBlockStore;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Where the server's acks are not durable (rbd-server --sync flush, and foreign servers), acknowledged writes are
 * kept until a FLUSH covers them, and written again when the server may have lost them; sync mode makes every
 * write durable before it completes; durable acks are let go at once.
 */
class AckDurabilityTest {
    private static final int SIZE = 1 << 20;
    private static final ClientOptions FAST = ClientOptions.builder().reconnectWait(Duration.ofSeconds(20))
            .backoff(Duration.ofMillis(20), Duration.ofMillis(200)).quiescence(Duration.ofMillis(50)).build();

    /** Like a disk with a volatile cache: writes not yet synced are lost in a crash. Outlives its servers. */
    static final class VolatileStore extends MemoryBlockStore {
        private final MemoryBlockStore durable = new MemoryBlockStore(SIZE);
        private final List<Object[]> pending = new ArrayList<>();

        VolatileStore() {
            super(SIZE);
        }

        @Override
        public synchronized void write(long offset, ByteBuf src) {
            pending.add(new Object[] {offset, ByteBufUtil.getBytes(src)});
            super.write(offset, src);
        }

        @Override
        public synchronized void sync() {
            for (Object[] p : pending) {
                durable.write((Long) p[0], Unpooled.wrappedBuffer((byte[]) p[1]));
            }
            pending.clear();
            super.sync();
        }

        /** Loses every write since the last sync. */
        synchronized void crash() {
            pending.clear();
            ByteBuf all = Unpooled.buffer(SIZE);
            durable.read(0, all, SIZE);
            super.write(0, all);
            all.release();
        }

        synchronized int unsynced() {
            return pending.size();
        }

        @Override
        public void close() {
        }
    }

    private static RbdServer start(MemoryBlockStore store, SyncMode mode, int port) throws Exception {
        return new RbdServer(ServerConfig.defaults(List.of(new InetSocketAddress("127.0.0.1", port))), List.of(
                Export.builder("disk", store).description("d").syncMode(mode).build())).start();
    }

    private static byte[] block(int i) {
        byte[] b = new byte[4096];
        new Random(i).nextBytes(b);
        return b;
    }

    @Test
    void acknowledgedWritesAreKeptUntilFlushedAndWrittenAgainAfterTheServerLostThem() throws Exception {
        VolatileStore store = new VolatileStore();
        RbdServer first = start(store, SyncMode.FLUSH, 0);
        int port = first.port();
        RbdServer second = null;
        try (RbdClient c = RbdClient.connect("nbd://127.0.0.1:" + port + "/disk", FAST)) {
            assertThat(c.info().fencing()).isTrue();
            assertThat(c.info().durableAcks()).isFalse();
            List<CompletableFuture<Void>> writes = new ArrayList<>();
            for (int i = 0; i < 32; i++) {
                writes.add(c.write(i * 4096L, block(i)));
            }
            CompletableFuture.allOf(writes.toArray(new CompletableFuture<?>[0])).get(10, TimeUnit.SECONDS);
            assertThat(c.unflushedBytes()).as("acknowledged, not yet durable").isGreaterThanOrEqualTo(32 * 4096);
            assertThat(c.retainedBytes()).isGreaterThanOrEqualTo(32 * 4096);

            store.crash(); // the server goes down and its unsynced writes with it
            first.close();
            second = start(store, SyncMode.FLUSH, port);
            await().atMost(Duration.ofSeconds(20)).until(() -> c.reconnects() >= 1);
            c.flush().get(10, TimeUnit.SECONDS);
            assertThat(c.unflushedBytes()).isZero();
            await().atMost(Duration.ofSeconds(5)).until(() -> c.retainedBytes() == 0);

            store.crash(); // only what a FLUSH made durable survives this one
            for (int i = 0; i < 32; i++) {
                assertThat(Arrays.equals(c.read(i * 4096L, 4096).get(5, TimeUnit.SECONDS), block(i)))
                        .as("block %d was written again after the server lost it", i).isTrue();
            }
        } finally {
            first.close();
            if (second != null) {
                second.close();
            }
        }
    }

    @Test
    void syncModeCompletesWritesOnlyOnceTheyAreOnStableStorage() throws Exception {
        VolatileStore store = new VolatileStore();
        RbdServer server = start(store, SyncMode.FLUSH, 0);
        String uri = "nbd://127.0.0.1:" + server.port() + "/disk";
        try {
            try (RbdClient plain = RbdClient.connect(uri, FAST)) {
                plain.write(0, block(1)).get(5, TimeUnit.SECONDS);
                assertThat(store.unsynced()).as("without sync mode the ack comes before the sync").isEqualTo(1);
            }
            store.sync();
            try (RbdClient synced = RbdClient.connect(uri, FAST.toBuilder().syncWrites(true).build())) {
                for (int i = 0; i < 8; i++) {
                    synced.write(i * 4096L, block(100 + i)).get(5, TimeUnit.SECONDS);
                    assertThat(store.unsynced()).as("write %d is durable when it completes", i).isZero();
                }
                assertThat(synced.unflushedBytes()).isZero();
                store.crash();
                assertThat(synced.read(7 * 4096L, 4096).get(5, TimeUnit.SECONDS)).isEqualTo(block(107));
            }
        } finally {
            server.close();
        }
    }

    @Test
    void aCallerBlockedInACallbackCannotStallTheFlushThatFreesTheBudget() throws Exception {
        RbdServer server = start(new MemoryBlockStore(SIZE), SyncMode.FLUSH, 0);
        java.util.concurrent.ExecutorService one = java.util.concurrent.Executors.newSingleThreadExecutor();
        try (RbdClient c = RbdClient.connect("nbd://127.0.0.1:" + server.port() + "/disk", FAST
                .toBuilder().maxRetainedBytes(64 << 10).blockTimeout(Duration.ofSeconds(5)).callbackExecutor(one)
                .build())) {
            // 200 writes issued from the only callback thread, which blocks whenever the kept acknowledged writes
            // fill the budget: the answers and the session's own FLUSH that free it must not need that thread
            List<CompletableFuture<Void>> writes = java.util.Collections.synchronizedList(new ArrayList<>());
            CompletableFuture.runAsync(() -> {
                for (int i = 0; i < 200; i++) {
                    writes.add(c.write((i % 64) * 4096L, block(i)));
                }
            }, one).get(30, TimeUnit.SECONDS);
            CompletableFuture.allOf(writes.toArray(new CompletableFuture<?>[0])).get(30, TimeUnit.SECONDS);
            assertThat(c.retainedBytes()).isLessThanOrEqualTo(64 << 10);
        } finally {
            one.shutdownNow();
            server.close();
        }
    }

    @Test
    void durableAcksAreLetGoAtOnce() throws Exception {
        RbdServer server = start(new MemoryBlockStore(SIZE), SyncMode.ALWAYS, 0);
        try (RbdClient c = RbdClient.connect("nbd://127.0.0.1:" + server.port() + "/disk", FAST)) {
            assertThat(c.info().durableAcks()).isTrue();
            c.write(0, block(1)).get(5, TimeUnit.SECONDS);
            assertThat(c.unflushedBytes()).isZero();
            await().atMost(Duration.ofSeconds(5)).until(() -> c.retainedBytes() == 0);
        } finally {
            server.close();
        }
    }
}
