package dev.rbd.client;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rbd.server.RbdServer;
import dev.rbd.server.export.Export;
import dev.rbd.server.export.ServerConfig;
import dev.rbd.server.store.MemoryBlockStore;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Queue;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Test;

/**
 * While the server is away the client holds every write it accepted, and the retained-write budget bounds what that
 * costs: callers block once the budget is full and get an {@link RbdException} after the block timeout, and what
 * was admitted lands once the server is back.
 */
class BackpressureTest {
    private static final int BUDGET = 256 << 10;
    private static final int BLOCK = 64 << 10;
    private static final int SUBMITTERS = 16;
    private static final Duration BLOCK_TIMEOUT = Duration.ofSeconds(1);

    /** Outlives the servers that export it, like an image file. */
    static final class Image extends MemoryBlockStore {
        Image() {
            super(8 << 20);
        }

        @Override
        public void close() {
        }
    }

    /** A write that got past the budget. */
    private record Admitted(int block, CompletableFuture<Void> done) {
    }

    /** A write refused after blocking for {@code millis}. */
    private record Refused(int block, long millis, RbdException error) {
    }

    /** Samples the client's counters from a thread of its own, for as long as the test runs. */
    private static final class Monitor {
        final AtomicInteger maxRetained = new AtomicInteger();
        final AtomicInteger minRetained = new AtomicInteger();
        final AtomicInteger maxAdmitted = new AtomicInteger();
        final AtomicInteger samples = new AtomicInteger();
        private final Thread thread;
        private volatile boolean stopped;

        Monitor(RbdClient c) {
            thread = new Thread(() -> {
                while (!stopped) {
                    int retained = c.retainedBytes();
                    maxRetained.accumulateAndGet(retained, Math::max);
                    minRetained.accumulateAndGet(retained, Math::min);
                    maxAdmitted.accumulateAndGet(c.admittedRequests(), Math::max);
                    samples.incrementAndGet();
                    LockSupport.parkNanos(100_000); // a sampling period, not a wait for anything
                }
            }, "budget-monitor");
            thread.start();
        }

        void stop() throws InterruptedException {
            stopped = true;
            thread.join(5_000);
        }
    }

    private static RbdServer start(Image image, int port) throws Exception {
        return new RbdServer(ServerConfig.defaults(List.of(new InetSocketAddress("127.0.0.1", port))), List.of(
                Export.builder("disk", image).description("d").build())).start();
    }

    private static byte[] block(int i) {
        byte[] b = new byte[BLOCK];
        new Random(i).nextBytes(b);
        return b;
    }

    @Test
    void withTheServerDownWritersBlockAtTheBudgetThenFailAndEveryAdmittedWriteLandsOnceItIsBack() throws Exception {
        Image image = new Image();
        RbdServer first = start(image, 0);
        int port = first.port();
        RbdServer second = null;
        ClientOptions options = ClientOptions.builder().maxRetainedBytes(BUDGET).blockTimeout(BLOCK_TIMEOUT)
                .reconnectWait(Duration.ofSeconds(60)).backoff(Duration.ofMillis(20), Duration.ofMillis(200))
                .quiescence(Duration.ofMillis(50)).build();
        RbdClient c = RbdClient.connect("nbd://127.0.0.1:" + port + "/disk", options);
        Monitor monitor = new Monitor(c);
        ExecutorService submitters = Executors.newFixedThreadPool(SUBMITTERS);
        try {
            c.write(0, block(0)).get(10, TimeUnit.SECONDS);
            first.close();

            // each submitter writes blocks of its own until a write is refused
            AtomicInteger next = new AtomicInteger(1);
            Queue<Admitted> admitted = new ConcurrentLinkedQueue<>();
            Queue<Refused> refused = new ConcurrentLinkedQueue<>();
            for (int t = 0; t < SUBMITTERS; t++) {
                submitters.execute(() -> {
                    while (true) {
                        int b = next.getAndIncrement();
                        long t0 = System.nanoTime();
                        try {
                            admitted.add(new Admitted(b, c.write((long) b * BLOCK, block(b))));
                        } catch (RbdException e) {
                            refused.add(new Refused(b, (System.nanoTime() - t0) / 1_000_000, e));
                            return;
                        }
                    }
                });
            }
            submitters.shutdown();
            assertThat(submitters.awaitTermination(30, TimeUnit.SECONDS)).as("every submitter was refused in the end")
                    .isTrue();

            assertThat(monitor.maxRetained.get()).as("retained bytes with the server down, at most").isEqualTo(BUDGET);
            assertThat(refused).hasSize(SUBMITTERS);
            for (Refused r : refused) {
                assertThat(r.error).hasMessage("retained-write budget of " + BUDGET + " bytes stayed full for "
                        + BLOCK_TIMEOUT.toMillis() + " ms");
                assertThat(r.millis).as("block %d: blocked for the block timeout", r.block)
                        .isBetween(BLOCK_TIMEOUT.toMillis(), BLOCK_TIMEOUT.toMillis() + 5_000);
            }
            assertThat(admitted).as("writes admitted with the server down fill the budget exactly")
                    .hasSize(BUDGET / BLOCK).allSatisfy(a -> assertThat(a.done).isNotDone());
            assertThat(c.retainedBytes()).isEqualTo(BUDGET);
            assertThat(c.admittedRequests()).isEqualTo(BUDGET / BLOCK);

            second = start(image, port);
            CompletableFuture.allOf(admitted.stream().map(Admitted::done).toArray(CompletableFuture<?>[]::new))
                    .get(30, TimeUnit.SECONDS);
            Awaitility.await().atMost(Duration.ofSeconds(10)).until(
                    () -> c.retainedBytes() == 0 && c.admittedRequests() == 0 && c.inFlight() == 0);
            monitor.stop();

            List<Integer> admittedBlocks = new ArrayList<>(admitted.stream().map(Admitted::block).toList());
            admittedBlocks.add(0);
            for (int b = 0; b < next.get(); b++) {
                byte[] got = c.read((long) b * BLOCK, BLOCK).get(10, TimeUnit.SECONDS);
                byte[] want = admittedBlocks.contains(b) ? block(b) : new byte[BLOCK]; // refused: nothing written
                assertThat(Arrays.equals(got, want)).as("block %d (admitted: %s)", b, admittedBlocks.contains(b))
                        .isTrue();
            }
            assertThat(monitor.samples.get()).isGreaterThan(100);
            assertThat(monitor.maxRetained.get()).as("retained bytes, at most").isEqualTo(BUDGET);
            assertThat(monitor.minRetained.get()).as("retained bytes, at least").isZero();
            assertThat(monitor.maxAdmitted.get()).as("requests admitted, at most")
                    .isLessThanOrEqualTo(options.maxInFlight());
        } finally {
            submitters.shutdownNow();
            monitor.stop();
            c.close();
            first.close();
            if (second != null) {
                second.close();
            }
        }
    }
}
