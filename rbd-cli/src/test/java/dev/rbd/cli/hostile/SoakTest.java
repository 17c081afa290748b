package dev.rbd.cli.hostile;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.rbd.protocol.NbdCommand;
import dev.rbd.protocol.NbdConstants;
import dev.rbd.protocol.NbdOption;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.Random;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * 100 connections of mixed load against one rbd-server process: clients that read, write and flush with several
 * requests in flight, clients that stop reading for a while, clients that vanish mid-request, clients that send
 * garbage, clients that only negotiate. Every request of a well-behaved client is answered without error, and
 * after all clients have gone the server's RSS, file descriptors and threads are where they were after the
 * warm-up, within a margin. The server's heap is touched whole at start ({@code -Xms256m -XX:+AlwaysPreTouch}) so
 * that the heap growing to its limit does not pass for a leak. Netty's buffer pool keeps the 16 MiB chunks it grew
 * to at its busiest moment (that high-water mark creeps up over a run, up to the direct-memory limit), so RSS is
 * judged without it: the pool's direct memory (native memory tracking's "Other") is checked against
 * {@code -XX:MaxDirectMemorySize}, and the rest of RSS against the warm figure. The server runs with the
 * launcher's {@code MALLOC_MMAP_THRESHOLD_}, so a chunk the pool frees leaves RSS too.
 * {@code -Drbd.soak.seconds=N} sets the measured run (default 60); the figures are
 * printed so they can be quoted.
 */
class SoakTest {
    private static final int MIB = 1 << 20;
    private static final long EXPORT_SIZE = 256L * MIB;
    private static final Duration WARM_UP = Duration.ofSeconds(30);
    private static final long RSS_MARGIN_KIB = 64 * 1024;
    private static final long MAX_DIRECT_KIB = 256 * 1024;
    private static final long FD_MARGIN = 8;
    private static final long THREAD_MARGIN = 4;

    @TempDir
    Path dir;

    private final AtomicLong sent = new AtomicLong();
    private final AtomicLong answered = new AtomicLong();
    private final AtomicLong errors = new AtomicLong();
    private final AtomicLong hostile = new AtomicLong();
    private final Queue<String> failures = new ConcurrentLinkedQueue<>();

    /** The server process's figures at one moment; {@code directKib} is the direct memory the JVM holds. */
    private record Figures(long rssKib, long directKib, long fds, long threads) {
        static Figures of(ServerUnderTest s) throws IOException, InterruptedException {
            return new Figures(s.rssKib(), SoakTest.directKib(s), s.fds(), s.threads());
        }

        /** RSS less the direct memory held. */
        long restKib() {
            return rssKib - directKib;
        }

        @Override
        public String toString() {
            return "rss=" + rssKib / 1024 + " MiB (direct " + directKib / 1024 + " MiB) fds=" + fds + " threads="
                    + threads;
        }
    }

    /** The committed "Other" memory of native memory tracking: what Unsafe and direct buffers hold. */
    private static long directKib(ServerUnderTest s) throws IOException, InterruptedException {
        Path jcmd = Path.of(Java.command()).resolveSibling("jcmd");
        Process p = new ProcessBuilder(jcmd.toString(), Long.toString(s.pid()), "VM.native_memory", "summary")
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        p.waitFor();
        java.util.regex.Matcher m = java.util.regex.Pattern
                .compile("-\\s+Other \\(reserved=\\d+KB, committed=(\\d+)KB").matcher(out);
        if (!m.find()) {
            throw new IOException("no Other line in jcmd's native memory summary:\n" + out);
        }
        return Long.parseLong(m.group(1));
    }

    @Test
    void aHundredMixedClientsLeaveTheServerAsTheyFoundIt() throws Exception {
        Duration run = Duration.ofSeconds(Integer.getInteger("rbd.soak.seconds", 60));
        try (ServerUnderTest server = ServerUnderTest.export(dir, "server", "disk=" + dir.resolve("disk.img"),
                "--create", "256M", "--shared").jvm("-Xms256m", "-XX:+AlwaysPreTouch", "-XX:NativeMemoryTracking=summary").start()) {
            Figures start = Figures.of(server); // first: jcmd's attach listener is a socket of its own
            long listening = sockets(server);

            load(server, WARM_UP);
            awaitAllConnectionsClosed(server, listening);
            Figures warm = Figures.of(server);
            long warmRequests = answered.get();

            List<Long> rssSeries = new CopyOnWriteArrayList<>();
            ScheduledExecutorService sampler = Executors.newSingleThreadScheduledExecutor();
            sampler.scheduleAtFixedRate(() -> {
                try {
                    rssSeries.add(server.rssKib() / 1024);
                } catch (IOException gone) {
                    // the server is gone; the assertions below say so
                }
            }, 10, 10, TimeUnit.SECONDS);
            try {
                load(server, run);
            } finally {
                sampler.shutdownNow();
            }
            awaitAllConnectionsClosed(server, listening);
            Figures end = Figures.of(server);

            System.out.printf("soak (%d connections, %d s after a %d s warm-up): start %s | warm %s | end %s | "
                    + "requests of well-behaved clients: %d sent, %d answered (%d in the measured run); hostile "
                    + "connections: %d; RSS every 10 s under load (MiB): %s%n", 100, run.toSeconds(),
                    WARM_UP.toSeconds(), start, warm, end, sent.get(), answered.get(), answered.get() - warmRequests,
                    hostile.get(), rssSeries);

            assertThat(failures).as("failures of well-behaved clients").isEmpty();
            assertThat(errors.get()).as("error replies to well-behaved clients").isZero();
            assertThat(answered.get()).as("every request sent is answered").isEqualTo(sent.get()).isPositive();
            assertThat(end.directKib()).as("direct memory at the end (KiB)").isLessThanOrEqualTo(MAX_DIRECT_KIB);
            assertThat(end.restKib()).as("RSS less direct memory at the end (KiB) against warm %s", warm)
                    .isLessThanOrEqualTo(warm.restKib() + RSS_MARGIN_KIB);
            assertThat(end.fds()).as("fds at the end against warm %s", warm).isLessThanOrEqualTo(warm.fds() + FD_MARGIN);
            assertThat(end.threads()).as("threads at the end against warm %s", warm)
                    .isLessThanOrEqualTo(warm.threads() + THREAD_MARGIN);
            server.assertHealthy();
        }
    }

    /** Runs the 100 clients for {@code time}, then waits for all of them to have finished and closed. */
    private void load(ServerUnderTest server, Duration time) throws InterruptedException {
        long deadline = System.nanoTime() + time.toNanos();
        List<Thread> clients = new ArrayList<>();
        for (int i = 0; i < 100; i++) {
            int kind = i % 10;
            long seed = i * 7919L + System.nanoTime();
            // 25 clients from each of four addresses: within the default per-address cap of 64
            String from = "127.0.0." + (1 + i % 4);
            Runnable r = switch (kind) {
                case 6 -> () -> loop(deadline, () -> stall(server, from, new Random(seed)));
                case 7 -> () -> loop(deadline, () -> vanish(server, from, new Random(seed)));
                case 8 -> () -> loop(deadline, () -> garbage(server, from, new Random(seed)));
                case 9 -> () -> loop(deadline, () -> negotiateOnly(server, from));
                default -> () -> loop(deadline, () -> work(server, from, new Random(seed), deadline));
            };
            Thread t = new Thread(r, "soak-client-" + i);
            t.start();
            clients.add(t);
        }
        for (Thread t : clients) {
            t.join(Duration.ofMinutes(2).toMillis());
            assertThat(t.isAlive()).as("%s finished", t.getName()).isFalse();
        }
    }

    private interface Step {
        void run() throws IOException, InterruptedException;
    }

    private void loop(long deadline, Step step) {
        while (System.nanoTime() < deadline) {
            try {
                step.run();
            } catch (IOException | InterruptedException | RuntimeException | AssertionError e) {
                failures.add(Thread.currentThread().getName() + ": " + e);
                return;
            }
        }
    }

    /** A well-behaved client: batches of up to 8 READs, WRITEs and FLUSHes in flight, every reply checked. */
    private void work(ServerUnderTest server, String from, Random rnd, long deadline) throws IOException {
        try (RawNbd c = new RawNbd(server.port(), from).open("disk", false)) {
            c.socket.setSoTimeout(60_000);
            long cookie = 0;
            for (int batch = 0; batch < 200 && System.nanoTime() < deadline; batch++) {
                Map<Long, Integer> reads = new HashMap<>();
                int n = 1 + rnd.nextInt(8);
                for (int i = 0; i < n; i++) {
                    cookie++;
                    int op = rnd.nextInt(10);
                    int len = 4096 * (1 + rnd.nextInt(op < 5 ? 32 : 16));
                    long offset = 4096L * rnd.nextInt((int) ((EXPORT_SIZE - len) / 4096));
                    if (op < 5) {
                        c.request(0, NbdCommand.READ.code(), cookie, offset, len, null);
                        reads.put(cookie, len);
                    } else if (op < 9) {
                        byte[] data = new byte[len];
                        rnd.nextBytes(data);
                        c.request(rnd.nextInt(4) == 0 ? NbdConstants.CMD_FLAG_FUA : 0, NbdCommand.WRITE.code(),
                                cookie, offset, len, data);
                    } else {
                        c.request(0, NbdCommand.FLUSH.code(), cookie, 0, 0, null);
                    }
                    sent.incrementAndGet();
                }
                for (int i = 0; i < n; i++) {
                    readSimpleReply(c, reads);
                }
            }
            c.request(0, NbdCommand.DISC.code(), ++cookie, 0, 0, null);
        }
    }

    /** Reads one simple reply, whatever its order, with the data of a successful READ. */
    private void readSimpleReply(RawNbd c, Map<Long, Integer> reads) throws IOException {
        int magic = c.in.readInt();
        if (magic != NbdConstants.SIMPLE_REPLY_MAGIC) {
            throw new IOException("bad reply magic 0x" + Integer.toHexString(magic));
        }
        int error = c.in.readInt();
        long cookie = c.in.readLong();
        Integer len = reads.remove(cookie);
        if (error != 0) {
            errors.incrementAndGet();
            failures.add(Thread.currentThread().getName() + ": error " + error + " for cookie " + cookie);
        } else if (len != null) {
            c.in.skipNBytes(len);
        }
        answered.incrementAndGet();
    }

    /**
     * Sends a 4 MiB READ (streamed by the server) and three of 1 MiB, reads nothing for a while through a small
     * receive buffer, then reads them all. One streamed READ at a time: several at once on simple replies are
     * {@link PipelinedLargeReadsTest}'s.
     */
    private void stall(ServerUnderTest server, String from, Random rnd) throws IOException, InterruptedException {
        try (RawNbd c = new RawNbd(server.port(), from, 16 * 1024).open("disk", false)) {
            c.socket.setSoTimeout(60_000);
            Map<Long, Integer> reads = new HashMap<>();
            for (long cookie = 1; cookie <= 4; cookie++) {
                int len = cookie == 1 ? 4 * MIB : MIB;
                c.request(0, NbdCommand.READ.code(), cookie, (long) rnd.nextInt(60) * 4 * MIB, len, null);
                reads.put(cookie, len);
                sent.incrementAndGet();
            }
            Thread.sleep(1500); // the stall is the load itself, not a wait for a condition
            for (int i = 0; i < 4; i++) {
                readSimpleReply(c, reads);
            }
        }
    }

    /** Sends a READ and half a 1 MiB WRITE, then resets the connection. */
    private void vanish(ServerUnderTest server, String from, Random rnd) throws IOException, InterruptedException {
        hostile.incrementAndGet();
        try (RawNbd c = new RawNbd(server.port(), from).open("disk", rnd.nextBoolean())) {
            c.request(0, NbdCommand.READ.code(), 1, 0, MIB, null);
            c.out.writeInt(NbdConstants.REQUEST_MAGIC);
            c.out.writeShort(0);
            c.out.writeShort(NbdCommand.WRITE.code());
            c.out.writeLong(2);
            c.out.writeLong(MIB);
            c.out.writeInt(MIB);
            c.out.write(new byte[rnd.nextInt(MIB)]);
            c.out.flush();
            c.socket.setSoLinger(true, 0); // close with RST, as a crashed peer
        }
        Thread.sleep(20);
    }

    /** Garbage in the handshake or in place of a request; the server closes the connection. */
    private void garbage(ServerUnderTest server, String from, Random rnd) throws IOException, InterruptedException {
        hostile.incrementAndGet();
        byte[] junk = new byte[1 + rnd.nextInt(200)];
        rnd.nextBytes(junk);
        try (RawNbd c = new RawNbd(server.port(), from)) {
            c.socket.setSoTimeout(15_000);
            if (rnd.nextBoolean()) {
                c.greet();
            } else {
                c.open("disk", rnd.nextBoolean());
            }
            c.out.write(junk);
            c.out.flush();
            c.socket.shutdownOutput();
            c.closedByServer();
        } catch (IOException expected) {
            // the server may close before all of the junk is written
        }
        Thread.sleep(20);
    }

    /** Lists the exports, asks about one, opens it and disconnects. */
    private void negotiateOnly(ServerUnderTest server, String from) throws IOException, InterruptedException {
        try (RawNbd c = new RawNbd(server.port(), from)) {
            c.greet();
            c.option(NbdOption.LIST.code(), new byte[0]);
            c.option(NbdOption.INFO.code(), RawNbd.infoData("disk"));
            c.go("disk");
            c.request(0, NbdCommand.DISC.code(), 1, 0, 0, null);
        }
        Thread.sleep(20);
    }

    /** Waits until the server holds no socket but its listeners: every connection closed. */
    private static void awaitAllConnectionsClosed(ServerUnderTest server, long listening) {
        await("every connection closed on the server").atMost(Duration.ofSeconds(60))
                .pollInterval(Duration.ofMillis(250)).until(() -> sockets(server) <= listening);
    }

    /** Sockets the server process holds open. */
    private static long sockets(ServerUnderTest server) throws IOException {
        try (Stream<Path> fds = Files.list(Path.of("/proc", Long.toString(server.pid()), "fd"))) {
            return fds.filter(fd -> {
                try {
                    return Files.readSymbolicLink(fd).toString().startsWith("socket:");
                } catch (IOException gone) {
                    return false;
                }
            }).count();
        }
    }
}
