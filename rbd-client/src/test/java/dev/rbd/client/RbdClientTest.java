package dev.rbd.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.rbd.protocol.NbdError;
import dev.rbd.server.RbdServer;
import dev.rbd.server.export.Export;
import dev.rbd.server.export.ServerConfig;
import dev.rbd.server.export.SyncMode;
import dev.rbd.server.store.MemoryBlockStore;
import io.netty.buffer.ByteBuf;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The client against the in-process rbd server. */
class RbdClientTest {
    private final CountDownLatch writing = new CountDownLatch(1);
    private final CountDownLatch releaseWrites = new CountDownLatch(1);
    private RbdServer server;
    private String base;

    @TempDir
    Path dir;

    @BeforeEach
    void start() throws Exception {
        server = new RbdServer(ServerConfig.defaults(List.of(new InetSocketAddress("127.0.0.1", 0)))
                .withUnixSocket(dir.resolve("rbd.sock")), List.of(
                Export.builder("disk", new MemoryBlockStore(8 << 20)).description("a test disk").build(),
                Export.builder("usr", new MemoryBlockStore(1 << 20)).description("read-only").readOnly(true).build(),
                Export.builder("held", new HeldStore(writing, releaseWrites)).description("writes wait")
                        .syncMode(SyncMode.FLUSH).build(),
                Export.builder("jitter", new JitterStore()).description("writes take 0-3 ms")
                        .syncMode(SyncMode.FLUSH).build())).start();
        base = "nbd://127.0.0.1:" + server.port() + "/";
    }

    @AfterEach
    void stop() {
        releaseWrites.countDown();
        server.close();
    }

    private static byte[] random(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    @Test
    void negotiatesTheExportsInfo() {
        try (RbdClient c = RbdClient.connect(base + "disk")) {
            ExportInfo i = c.info();
            assertThat(i.size()).isEqualTo(8 << 20);
            assertThat(i.description()).isEqualTo("a test disk");
            assertThat(i.readOnly()).isFalse();
            assertThat(i.canFlush()).isTrue();
            assertThat(i.canFua()).isTrue();
            assertThat(i.canTrim()).isTrue();
            assertThat(i.canWriteZeroes()).isTrue();
            assertThat(i.canMultiConn()).isTrue();
            assertThat(i.structuredReplies()).isTrue();
            assertThat(i.minimumBlock()).isEqualTo(1);
            assertThat(i.preferredBlock()).isEqualTo(4096);
            assertThat(i.maxPayload()).isEqualTo(64 << 20);
        }
    }

    @Test
    void writesAndReadsBackSplittingLargeRequests() {
        try (RbdClient c = RbdClient.connect(base + "disk", ClientOptions.builder().maxRequestSize(4096).build())) {
            byte[] data = random(100_000, 1);
            c.write(12345, data, true).join();
            assertThat(c.read(12345, data.length).join()).isEqualTo(data);
            c.writeZeroes(12345, 1000, true).join();
            c.trim(20000, 4096).join();
            c.flush().join();
            c.cache(0, 65536).join();
            byte[] back = c.read(12345, 1000).join();
            assertThat(back).containsOnly(0);
        }
    }

    @Test
    void readsIntoAndWritesFromBuffersBetweenTheirPositionAndLimitLeavingBothAlone() {
        // 4 KiB requests: every buffer below is split, so each part must land at its own place in it
        try (RbdClient c = RbdClient.connect(base + "disk", ClientOptions.builder().maxRequestSize(4096).build())) {
            byte[] data = random(70_000, 2);
            ByteBuffer src = ByteBuffer.allocateDirect(data.length + 300);
            src.position(100).put(data).limit(100 + data.length).position(100);
            c.write(5000, src).join();
            assertThat(src.position()).isEqualTo(100);
            assertThat(src.limit()).isEqualTo(100 + data.length);
            assertThat(c.read(5000, data.length).join()).isEqualTo(data);

            for (ByteBuffer dst : List.of(ByteBuffer.allocateDirect(data.length + 80), ByteBuffer.allocate(
                    data.length + 80))) {
                while (dst.hasRemaining()) {
                    dst.put((byte) 0x55);
                }
                dst.limit(50 + data.length).position(50);
                assertThat(c.read(5000, dst).join()).isSameAs(dst);
                assertThat(dst.position()).isEqualTo(50);
                assertThat(dst.limit()).isEqualTo(50 + data.length);
                byte[] back = new byte[data.length];
                dst.get(50, back);
                assertThat(back).isEqualTo(data);
                // nothing outside the window was touched
                assertThat(dst.get(49)).isEqualTo((byte) 0x55);
                assertThat(dst.limit(dst.capacity()).get(50 + data.length)).isEqualTo((byte) 0x55);
            }
            assertThatThrownBy(() -> c.read(0, ByteBuffer.allocate(10).asReadOnlyBuffer()))
                    .isInstanceOf(IllegalArgumentException.class);
        }
    }

    @Test
    void aBufferWrittenWhereAcksAreNotDurableIsCopiedSoTheCallerMayReuseItAtOnce() {
        try (RbdClient c = RbdClient.connect(base + "jitter")) {
            assertThat(c.info().durableAcks()).isFalse();
            ByteBuffer b = ByteBuffer.allocateDirect(8192);
            byte[] first = random(8192, 3);
            b.put(first).flip();
            c.write(0, b).join();
            b.clear().put(random(8192, 4)).flip(); // reused before any FLUSH covers the first write
            assertThat(c.unflushedBytes()).as("kept until a FLUSH covers it").isGreaterThanOrEqualTo(8192);
            c.flush().join();
            assertThat(c.read(0, 8192).join()).isEqualTo(first);
        }
    }

    @Test
    void pipelinesManyRequestsAndCompletesOffTheEventLoop() {
        try (RbdClient c = RbdClient.connect(base + "disk")) {
            List<CompletableFuture<Void>> writes = new ArrayList<>();
            for (int i = 0; i < 256; i++) {
                writes.add(c.write(i * 4096L, random(4096, i)));
            }
            CompletableFuture.allOf(writes.toArray(new CompletableFuture<?>[0])).join();
            List<CompletableFuture<String>> threads = new ArrayList<>();
            List<CompletableFuture<byte[]>> reads = new ArrayList<>();
            for (int i = 0; i < 256; i++) {
                CompletableFuture<byte[]> r = c.read(i * 4096L, 4096);
                reads.add(r);
                threads.add(r.thenApply(x -> Thread.currentThread().getName()));
            }
            for (int i = 0; i < 256; i++) {
                assertThat(reads.get(i).join()).isEqualTo(random(4096, i));
            }
            assertThat(threads).allSatisfy(t -> assertThat(t.join()).doesNotContain("IoEventLoop"));
            assertThat(c.inFlight()).isZero();
        }
    }

    @Test
    void overlappingWritesTakeEffectInSubmissionOrder() {
        try (RbdClient c = RbdClient.connect(base + "jitter")) {
            for (int round = 0; round < 20; round++) {
                List<CompletableFuture<Void>> writes = new ArrayList<>();
                byte[] last = null;
                for (int i = 0; i < 16; i++) {
                    last = random(16384, round * 100L + i);
                    // all to the same bytes; the server runs requests concurrently and its writes take 0-3 ms
                    writes.add(c.write(4096 + (i % 2) * 512L, last));
                }
                CompletableFuture<byte[]> read = c.read(4096 + 512, 16384);
                CompletableFuture.allOf(writes.toArray(new CompletableFuture<?>[0])).join();
                assertThat(read.join()).as("round %d: the read sees the last write", round).isEqualTo(last);
            }
        }
    }

    @Test
    void serverErrorsArriveAsTypedExceptions() {
        try (RbdClient c = RbdClient.connect(base + "disk")) {
            assertNbdError(c.read(8 << 20, 1), NbdError.EINVAL);
            assertNbdError(c.write((8 << 20) - 1, new byte[2]), NbdError.ENOSPC);
            // the connection is still usable
            assertThat(c.read(0, 16).join()).hasSize(16);
        }
        try (RbdClient c = RbdClient.connect(base + "usr")) {
            assertThat(c.info().readOnly()).isTrue();
            assertNbdError(c.write(0, new byte[512]), NbdError.EPERM);
        }
    }

    private static void assertNbdError(CompletableFuture<?> f, NbdError expected) {
        assertThatThrownBy(f::join).isInstanceOf(CompletionException.class).cause()
                .isInstanceOf(NbdErrorException.class)
                .satisfies(e -> assertThat(((NbdErrorException) e).error()).isEqualTo(expected));
    }

    @Test
    void refusalsSayWhy() throws Exception {
        assertThatThrownBy(() -> RbdClient.connect(base + "nope")).isInstanceOf(RbdException.class)
                .hasMessageContaining("unknown export");
        int closedPort;
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            closedPort = s.getLocalPort();
        }
        assertThatThrownBy(() -> RbdClient.connect("nbd://127.0.0.1:" + closedPort + "/disk"))
                .isInstanceOf(RbdException.class).hasMessageContaining("cannot connect");
    }

    @Test
    void withoutReconnectAWriteInFlightWhenTheConnectionDiesIsOutcomeUnknown() throws Exception {
        try (RbdClient c = RbdClient.connect(base + "held", ClientOptions.defaults()
                .toBuilder().reconnectWait(java.time.Duration.ZERO).build())) {
            CompletableFuture<Void> w = c.write(0, new byte[512]);
            assertThat(writing.await(5, TimeUnit.SECONDS)).isTrue();
            server.context().channels().close().awaitUninterruptibly();
            assertThatThrownBy(w::join).cause().isInstanceOf(OutcomeUnknownException.class)
                    .hasMessageContaining("may or may not");
            assertThatThrownBy(() -> c.read(0, 1).join()).cause().isInstanceOf(RbdException.class)
                    .isNotInstanceOf(OutcomeUnknownException.class).hasMessageContaining("reconnecting is disabled");
        }
    }

    @Test
    void callersBlockThenTimeOutWhenTheRetainedBudgetIsFullAndEverythingDrainsAfterwards() {
        ClientOptions opts = ClientOptions.builder().maxRetainedBytes(64 << 10)
                .blockTimeout(java.time.Duration.ofMillis(300)).build();
        try (RbdClient c = RbdClient.connect(base + "held", opts)) {
            List<CompletableFuture<Void>> accepted = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                accepted.add(c.write(i * 8192L, new byte[8192]));
            }
            assertThat(c.retainedBytes()).isEqualTo(64 << 10);
            long t0 = System.nanoTime();
            assertThatThrownBy(() -> c.write(1 << 19, new byte[8192])).isInstanceOf(RbdException.class)
                    .hasMessageContaining("budget");
            assertThat((System.nanoTime() - t0) / 1_000_000).as("blocked for the bound").isBetween(250L, 5000L);
            assertThat(c.retainedBytes()).isLessThanOrEqualTo(64 << 10);
            releaseWrites.countDown();
            CompletableFuture.allOf(accepted.toArray(new CompletableFuture<?>[0])).join();
            // this export acks before a sync, so the writes stay retained until a FLUSH covers them
            c.flush().join();
            org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(5))
                    .until(() -> c.retainedBytes() == 0 && c.admittedRequests() == 0);
            c.write(1 << 19, new byte[8192]).join();
        }
    }

    @Test
    void closeWaitsForRequestsInFlight() throws Exception {
        RbdClient c = RbdClient.connect(base + "held");
        CompletableFuture<Void> w = c.write(0, new byte[512]);
        assertThat(writing.await(5, TimeUnit.SECONDS)).isTrue();
        CompletableFuture<Void> closing = CompletableFuture.runAsync(c::close);
        releaseWrites.countDown();
        closing.get(10, TimeUnit.SECONDS);
        w.get(5, TimeUnit.SECONDS); // answered, not failed by the close
    }

    @Test
    void listsExportsAndConnectsOverAUnixSocket() {
        assertThat(RbdClient.listExports(base, ClientOptions.defaults())).extracting(ExportEntry::name)
                .containsExactly("disk", "usr", "held", "jitter");
        try (RbdClient c = RbdClient.connect("nbd+unix:///disk?socket=" + dir.resolve("rbd.sock"))) {
            c.blocking().write(0, new byte[] {1, 2, 3});
            byte[] back = new byte[3];
            c.blocking().read(0, back);
            assertThat(back).containsExactly(1, 2, 3);
        }
    }

    /** Writes take a varying time, as on a real disk, so concurrently running requests overtake each other. */
    static final class JitterStore extends MemoryBlockStore {
        JitterStore() {
            super(1 << 20);
        }

        @Override
        public void write(long offset, ByteBuf src) {
            java.util.concurrent.locks.LockSupport.parkNanos(
                    java.util.concurrent.ThreadLocalRandom.current().nextLong(3_000_000));
            super.write(offset, src);
        }
    }

    /** A store whose writes wait until released, to hold a write in flight. */
    static final class HeldStore extends MemoryBlockStore {
        private final CountDownLatch writing;
        private final CountDownLatch release;

        HeldStore(CountDownLatch writing, CountDownLatch release) {
            super(1 << 20);
            this.writing = writing;
            this.release = release;
        }

        @Override
        public void write(long offset, ByteBuf src) {
            writing.countDown();
            try {
                release.await(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            super.write(offset, src);
        }
    }
}
