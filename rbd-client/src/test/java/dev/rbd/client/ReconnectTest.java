package dev.rbd.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.rbd.server.RbdServer;
import dev.rbd.server.export.Export;
import dev.rbd.server.export.ServerConfig;
import dev.rbd.server.store.MemoryBlockStore;
import io.netty.buffer.ByteBuf;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.Test;

/** The client survives its connection and its server: requests in flight and new ones are replayed in order. */
class ReconnectTest {
    private static final ClientOptions FAST = ClientOptions.builder().reconnectWait(Duration.ofSeconds(20))
            .backoff(Duration.ofMillis(20), Duration.ofMillis(200)).quiescence(Duration.ofMillis(50)).build();

    /** Outlives the servers that export it, like an image file; writes take 0-2 ms so requests overlap. */
    static class DurableMemory extends MemoryBlockStore {
        DurableMemory() {
            super(4 << 20);
        }

        @Override
        public void write(long offset, ByteBuf src) {
            LockSupport.parkNanos(ThreadLocalRandom.current().nextLong(2_000_000));
            super.write(offset, src);
        }

        @Override
        public void close() {
        }
    }

    private static RbdServer start(MemoryBlockStore store, int port) throws Exception {
        return new RbdServer(ServerConfig.defaults(List.of(new InetSocketAddress("127.0.0.1", port))), List.of(
                Export.builder("disk", store).description("d").build())).start();
    }

    private static byte[] block(int i) {
        byte[] b = new byte[4096];
        new Random(i).nextBytes(b);
        return b;
    }

    /**
     * 400 writes to 64 distinct blocks, over and over, with {@code cut} run after writes 150 and 300; returns once
     * all of them completed.
     */
    private static void writeOverAndOver(RbdClient c, Runnable cut) throws Exception {
        List<CompletableFuture<Void>> writes = new ArrayList<>();
        for (int i = 0; i < 400; i++) {
            writes.add(c.write((i % 64) * 4096L, block(i)));
            if (i == 150 || i == 300) {
                cut.run();
            }
        }
        CompletableFuture.allOf(writes.toArray(new CompletableFuture<?>[0])).get(30, TimeUnit.SECONDS);
    }

    /** After {@link #writeOverAndOver}: the last write of each block must win. */
    private static void assertEachBlockHoldsItsLastWrite(RbdClient c) throws Exception {
        for (int b = 0; b < 64; b++) {
            int last = b < 400 % 64 ? 384 + b : 320 + b; // the last i < 400 with i % 64 == b
            byte[] got = c.read(b * 4096L, 4096).get(10, TimeUnit.SECONDS);
            assertThat(java.util.Arrays.equals(got, block(last))).as("block %d holds write %d", b, last).isTrue();
        }
    }

    @Test
    void requestsInFlightWhenTheConnectionIsCutAreReplayedInOrder() throws Exception {
        DurableMemory store = new DurableMemory();
        RbdServer server = start(store, 0);
        try (RbdClient c = RbdClient.connect("nbd://127.0.0.1:" + server.port() + "/disk", FAST)) {
            writeOverAndOver(c, () -> server.context().channels().close());
            assertThat(c.reconnects()).isGreaterThanOrEqualTo(1);
            assertThat(c.replayed()).as("requests caught by the cut were sent again").isPositive();
            assertEachBlockHoldsItsLastWrite(c);
            assertThat(c.retainedBytes()).isZero();
        } finally {
            server.close();
        }
    }

    @Test
    void overMultiConnADeadConnectionsRequestsMoveToTheOthersAfterItIsFenced() throws Exception {
        DurableMemory store = new DurableMemory();
        RbdServer server = start(store, 0);
        try (RbdClient c = RbdClient.connect("nbd://127.0.0.1:" + server.port() + "/disk",
                FAST.toBuilder().connections(4).build())) {
            assertThat(c.connections()).isEqualTo(4);
            // one connection dies, the others keep working
            writeOverAndOver(c, () -> server.context().channels().iterator().next().close());
            c.flush().get(10, TimeUnit.SECONDS);
            assertThat(c.reconnects()).isGreaterThanOrEqualTo(1);
            assertEachBlockHoldsItsLastWrite(c);
            org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> c.connections() == 4);
            assertThat(c.retainedBytes()).isZero();
        } finally {
            server.close();
        }
    }

    @Test
    void writesMadeWhileTheServerIsDownCompleteOnceItIsBack() throws Exception {
        DurableMemory store = new DurableMemory();
        RbdServer first = start(store, 0);
        int port = first.port();
        RbdClient c = RbdClient.connect("nbd://127.0.0.1:" + port + "/disk", FAST);
        RbdServer second = null;
        try {
            c.write(0, block(1)).get(10, TimeUnit.SECONDS);
            first.close();
            CompletableFuture<Void> parked = c.write(4096, block(2));
            assertThat(parked).as("no server: the write waits").isNotDone();
            second = start(store, port);
            parked.get(20, TimeUnit.SECONDS);
            assertThat(c.read(0, 8192).get(10, TimeUnit.SECONDS)).startsWith(block(1)).endsWith(block(2));
        } finally {
            c.close();
            if (second != null) {
                second.close();
            }
        }
    }

    @Test
    void aServerThatStopsAnsweringIsTakenForDeadAfterTheIoTimeout() throws Exception {
        java.util.concurrent.CountDownLatch stalled = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch wake = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.atomic.AtomicInteger calls = new java.util.concurrent.atomic.AtomicInteger();
        DurableMemory store = new DurableMemory() {
            @Override
            public void write(long offset, ByteBuf src) {
                if (calls.incrementAndGet() == 1) { // the first attempt hangs, as on a stuck server
                    stalled.countDown();
                    try {
                        wake.await(10, TimeUnit.SECONDS);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
                super.write(offset, src);
            }
        };
        RbdServer server = start(store, 0);
        try (RbdClient c = RbdClient.connect("nbd://127.0.0.1:" + server.port() + "/disk",
                FAST.toBuilder().ioTimeout(Duration.ofMillis(300)).build())) {
            CompletableFuture<Void> w = c.write(0, block(5));
            assertThat(stalled.await(5, TimeUnit.SECONDS)).isTrue();
            // The client gives up on the silent connection and reconnects, but the server fences the old one
            // first: the new connection waits while the old write is still running.
            assertThatThrownBy(() -> w.get(1500, TimeUnit.MILLISECONDS))
                    .isInstanceOf(java.util.concurrent.TimeoutException.class);
            assertThat(calls.get()).as("no replay while the old write runs").isEqualTo(1);
            wake.countDown();
            w.get(10, TimeUnit.SECONDS); // then replayed on the new connection
            assertThat(calls.get()).isEqualTo(2);
            assertThat(c.reconnects()).isEqualTo(1);
            assertThat(java.util.Arrays.equals(c.read(0, 4096).get(5, TimeUnit.SECONDS), block(5))).isTrue();
        } finally {
            wake.countDown();
            server.close();
        }
    }

    @Test
    void closingWhileTheServerIsAwayFailsWhatWaitsInsteadOfLeavingItHanging() throws Exception {
        RbdServer server = start(new DurableMemory(), 0);
        RbdClient c = RbdClient.connect("nbd://127.0.0.1:" + server.port() + "/disk",
                FAST.toBuilder().blockTimeout(Duration.ofMillis(200)).build());
        server.close();
        CompletableFuture<Void> w = c.write(0, block(3));
        c.close(); // waits at most the block timeout for w, then gives up on it
        assertThatThrownBy(() -> w.get(5, TimeUnit.SECONDS)).cause().isInstanceOf(RbdException.class)
                .hasMessageContaining("closed");
        assertThat(c.retainedBytes()).isZero();
        assertThat(c.admittedRequests()).isZero();
    }

    @Test
    void whenTheReconnectWaitRunsOutNeverSentRequestsFailPlainly() throws Exception {
        RbdServer server = start(new DurableMemory(), 0);
        RbdClient c = RbdClient.connect("nbd://127.0.0.1:" + server.port() + "/disk",
                FAST.toBuilder().reconnectWait(Duration.ofMillis(300)).build());
        try {
            server.close();
            CompletableFuture<Void> w = c.write(0, block(3));
            assertThatThrownBy(() -> w.get(10, TimeUnit.SECONDS)).cause().isInstanceOf(RbdException.class)
                    .isNotInstanceOf(OutcomeUnknownException.class).hasMessageContaining("unreachable");
            assertThatThrownBy(() -> c.read(0, 1).get(10, TimeUnit.SECONDS)).cause()
                    .hasMessageContaining("unreachable");
        } finally {
            c.close();
        }
    }

    @Test
    void anExportThatChangedAcrossTheReconnectFailsTheSessionWithExportChanged() throws Exception {
        RbdServer server = start(new DurableMemory(), 0);
        int port = server.port();
        RbdClient c = RbdClient.connect("nbd://127.0.0.1:" + port + "/disk", FAST);
        RbdServer smaller = null;
        try {
            server.close();
            CompletableFuture<Void> w = c.write(0, block(3)); // waits for the reconnect
            smaller = start(new MemoryBlockStore(2 << 20), port);
            assertThatThrownBy(() -> w.get(10, TimeUnit.SECONDS)).cause()
                    .isInstanceOfSatisfying(ExportChangedException.class, e -> {
                        assertThat(e.before().size()).isEqualTo(4 << 20);
                        assertThat(e.after().size()).isEqualTo(2 << 20);
                    });
            assertThat(c.reconnects()).isZero();
            assertThat(Thread.getAllStackTraces().keySet()).as("reconnects are scheduled, not threads of their own")
                    .noneMatch(t -> t.getName().startsWith("rbd-reconnect"));
        } finally {
            c.close();
            if (smaller != null) {
                smaller.close();
            }
        }
    }
}
