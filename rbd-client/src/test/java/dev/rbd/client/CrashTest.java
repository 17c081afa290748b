package dev.rbd.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import dev.rbd.server.store.PersistentOverlay;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.IntFunction;
import java.util.zip.CRC32;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The client's central promise under real crashes: while one client streams overlapping writes, the server JVM is
 * killed with SIGKILL again and again and restarted on the same port and image. The client must reconnect and
 * replay on its own, every write must succeed, and each sector must hold the newest write that covers it, untorn:
 * no acknowledged write lost, none applied out of submission order. Besides the final state, a read of the whole
 * disk right after each reconnect is checked: it is ordered after every write submitted before it, so it shows
 * what the replay did before later writes paper over it.
 *
 * <p>Run against a plain export, whose unwritten sectors read as zeros, and against a client's persistent overlay
 * ({@code overlays=DIR}) over a golden image whose every sector carries a stamp of its own: there a sector that
 * shows the golden image where a write was acknowledged is caught, as is one that reads as zeros where the golden
 * image should show through. The overlay's map and data file are checked after a clean stop too, and the golden
 * image must not have changed by a byte.
 */
class CrashTest {
    private static final int SECTOR = 512;
    private static final int BLOCK = 4096;
    /** Where writes go on a plain export: small, so that they overlap heavily (48 in flight over 64 blocks). */
    private static final int REGION = 256 << 10;
    /**
     * Where writes go on an overlay: larger, so that first writes of blocks (which go to the overlay's journal) keep
     * coming between the kills, not only rewrites of blocks the overlay has already (which go to its data file).
     */
    private static final int OVERLAY_REGION = 8 << 20;
    /** Read along with the region and never written: must stay zeros (or the golden image, under an overlay). */
    private static final int TAIL = 64 << 10;
    private static final int WRITES = 6000;
    /** Writes submitted and not yet complete, at most. */
    private static final int WINDOW = 48;
    private static final int KILLS = 4;
    /** The golden image's size, that of the plain image too ({@code --create 16M}). */
    private static final int IMAGE = 16 << 20;
    private static final String ZEROS = "zeros";
    private static final String GOLDEN = "the golden image";
    private static final String CLIENT = "host1";

    /** What the client writes to. */
    enum Target {
        /** A plain export of a sparse image. */
        PLAIN,
        /** Client {@value CrashTest#CLIENT}'s persistent overlay of an export with {@code overlays=DIR}. */
        OVERLAY
    }

    private static final ClientOptions OPTIONS = ClientOptions.builder().reconnectWait(Duration.ofSeconds(60))
            .backoff(Duration.ofMillis(20), Duration.ofMillis(200)).quiescence(Duration.ofMillis(50))
            .maxInFlight(64).build();

    @TempDir
    Path dir;

    private ServerProcess server;
    private Thread chaos;

    /** The chaos thread first, so it cannot start a server after the last one is killed. */
    @AfterEach
    void killServer() throws InterruptedException {
        if (chaos != null) {
            chaos.interrupt();
            chaos.join(TimeUnit.SECONDS.toMillis(30));
        }
        if (server != null) {
            server.close();
        }
    }

    /** One submitted write: {@code seq} is its place in submission order, from 1. */
    private record Write(long seq, long offset, int sectors, CompletableFuture<Void> done) {
        boolean succeeded() {
            return done.isDone() && !done.isCompletedExceptionally();
        }
    }

    /** A read of region and tail, submitted after the first {@code after} writes. */
    private record Snapshot(long after, CompletableFuture<byte[]> data) {
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(Target.class)
    void everyAcceptedWriteSurvivesRepeatedServerKillsInSubmissionOrder(Target target) throws Exception {
        long seed = Long.getLong("rbd.crash.seed", System.nanoTime());
        int region = target == Target.PLAIN ? REGION : OVERLAY_REGION;
        Path image = dir.resolve("disk.img");
        Path overlays = dir.resolve("overlays");
        int port = ServerProcess.freePort();
        String listen = "127.0.0.1:" + port;
        String goldenHash = null;
        String uri;
        IntFunction<String> unwritten;
        if (target == Target.PLAIN) {
            server = new ServerProcess(port, dir.resolve("server.log"), "export", "disk=" + image, "--create", "16M",
                    "--listen", listen);
            uri = "nbd://" + listen + "/disk";
            unwritten = s -> ZEROS;
        } else {
            writeGolden(image);
            goldenHash = sha256(image);
            Files.createDirectory(overlays);
            server = new ServerProcess(port, dir.resolve("server.log"), "export",
                    "root=" + image + ",overlays=" + overlays, "--listen", listen);
            uri = "nbd://" + listen + "/root/" + CLIENT;
            unwritten = s -> GOLDEN;
        }
        server.start();

        List<Write> writes = new ArrayList<>(WRITES);
        List<Snapshot> snapshots = new ArrayList<>();
        List<Integer> exitCodes = new CopyOnWriteArrayList<>();
        AtomicReference<Throwable> chaosFailure = new AtomicReference<>();
        CountDownLatch[] killPoints = new CountDownLatch[KILLS];
        for (int k = 0; k < KILLS; k++) {
            killPoints[k] = new CountDownLatch(1);
        }
        chaos = new Thread(() -> {
            try {
                ThreadLocalRandom r = ThreadLocalRandom.current();
                for (CountDownLatch point : killPoints) {
                    if (!point.await(60, TimeUnit.SECONDS)) {
                        throw new AssertionError("the writer stalled before a kill");
                    }
                    Thread.sleep(r.nextInt(20)); // land the kill at a random point of the stream
                    exitCodes.add(server.kill());
                    Thread.sleep(20 + r.nextInt(280)); // down for a while: new writes park meanwhile
                    server.start();
                }
            } catch (Throwable t) {
                chaosFailure.set(t);
            }
        }, "crash-test-chaos");

        try (RbdClient c = RbdClient.connect(uri, OPTIONS)) {
            chaos.start();
            Random rnd = new Random(seed);
            Semaphore window = new Semaphore(WINDOW);
            int reconnectsSeen = 0;
            for (int i = 0; i < WRITES; i++) {
                if (c.reconnects() > reconnectsSeen) { // a replay is under way: look at what it does
                    reconnectsSeen = c.reconnects();
                    snapshots.add(new Snapshot(i, c.read(0, region + TAIL)));
                }
                if (!window.tryAcquire(60, TimeUnit.SECONDS)) {
                    fail("no write completed for 60 s at write " + (i + 1) + " (seed " + seed + ")");
                }
                long offset = (long) rnd.nextInt(region / BLOCK) * BLOCK;
                int sectors = 1 + rnd.nextInt(BLOCK / SECTOR);
                long seq = i + 1;
                CompletableFuture<Void> f = c.write(offset, stamped(offset, sectors, seq, rnd));
                f.whenComplete((v, e) -> window.release());
                writes.add(new Write(seq, offset, sectors, f));
                for (int k = 0; k < KILLS; k++) {
                    if (i == (k + 1) * WRITES / (KILLS + 1)) {
                        killPoints[k].countDown();
                    }
                }
            }
            chaos.join(TimeUnit.SECONDS.toMillis(60));
            assertThat(chaos.isAlive()).as("chaos thread still running").isFalse();
            if (chaosFailure.get() != null) {
                throw new AssertionError("killing or restarting the server failed; its log:\n" + server.log(),
                        chaosFailure.get());
            }
            CompletableFuture.allOf(writes.stream().map(w -> w.done.handle((v, e) -> null))
                    .toArray(CompletableFuture<?>[]::new)).get(60, TimeUnit.SECONDS);

            assertThat(exitCodes).as("each kill was a SIGKILL").hasSize(KILLS).containsOnly(ServerProcess.KILLED);
            List<String> failed = writes.stream().filter(w -> !w.succeeded()).limit(10)
                    .map(w -> "write #" + w.seq + " at " + w.offset + ": " + cause(w.done)).toList();
            assertThat(failed).as("writes that failed (the reconnect wait is 60 s; seed %d)", seed).isEmpty();
            for (Snapshot snap : snapshots) {
                check(snap.data.get(30, TimeUnit.SECONDS), newest(writes, snap.after, region), unwritten,
                        "read after a reconnect, ordered after write #" + snap.after, seed);
            }
            check(c.read(0, region + TAIL).get(30, TimeUnit.SECONDS), newest(writes, WRITES, region), unwritten,
                    "read through the writing client", seed);
            assertThat(c.reconnects()).as("one reconnect per kill at least").isGreaterThanOrEqualTo(KILLS);
            assertThat(c.replayed()).as("requests caught by a kill and sent again").isPositive();
            assertThat(snapshots).as("reads right after a reconnect").isNotEmpty();
        }

        assertThat(server.stop()).as("a clean stop").isEqualTo(ServerProcess.TERMINATED);
        if (target == Target.OVERLAY) {
            assertThat(server.log()).as("the server's log: a kill left first writes in the overlay's journal")
                    .contains("blocks replayed from its journal");
        }
        long[] expected = newest(writes, WRITES, region);
        if (target == Target.PLAIN) {
            check(readImage(image, region), expected, unwritten, "the image file", seed);
        } else {
            checkOverlayFiles(overlays, expected, seed);
            assertThat(sha256(image)).as("sha256 of the golden image").isEqualTo(goldenHash);
        }
        server.start();
        try (RbdClient fresh = RbdClient.connect(uri, OPTIONS)) {
            check(fresh.read(0, region + TAIL).get(30, TimeUnit.SECONDS), expected, unwritten,
                    "read through a fresh client", seed);
        }
        if (goldenHash != null) {
            assertThat(sha256(image)).as("sha256 of the golden image after it was served again")
                    .isEqualTo(goldenHash);
        }
    }

    /**
     * After a clean stop, the overlay's map says DATA for exactly the blocks a write covered, and its data file holds
     * those blocks as the client reads them (a partly written block filled from the golden image) and nothing
     * elsewhere: golden blocks that were only read were never copied into it.
     */
    private static void checkOverlayFiles(Path overlays, long[] expected, long seed) throws Exception {
        int perBlock = BLOCK / SECTOR;
        boolean[] written = new boolean[expected.length / perBlock];
        for (int s = 0; s < expected.length; s++) {
            written[s / perBlock] |= expected[s] != 0;
        }
        int blocks = 0;
        for (boolean w : written) {
            blocks += w ? 1 : 0;
        }
        PersistentOverlay.Info info = PersistentOverlay.info(overlays, CLIENT);
        assertThat(info.inUse()).as("overlay in use after the server stopped").isFalse();
        assertThat(info.blocksWritten()).as("blocks the overlay's map says were written").isEqualTo(blocks);
        check(readImage(PersistentOverlay.dataFile(overlays, CLIENT), expected.length * SECTOR - TAIL), expected,
                s -> written[s / perBlock] ? GOLDEN : ZEROS, "the overlay's data file", seed);
    }

    /** A golden image of {@link #IMAGE} bytes, every sector stamped as a write #0 to it would be. */
    private static void writeGolden(Path image) throws Exception {
        Random rnd = new Random(0x601d);
        int chunk = 1 << 20;
        try (FileChannel ch = FileChannel.open(image, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            for (long at = 0; at < IMAGE; at += chunk) {
                ByteBuffer b = ByteBuffer.wrap(stamped(at, chunk / SECTOR, 0, rnd));
                while (b.hasRemaining()) {
                    ch.write(b, at + b.position());
                }
            }
            ch.force(true);
        }
    }

    private static String sha256(Path file) throws Exception {
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        ByteBuffer buf = ByteBuffer.allocate(1 << 20);
        try (FileChannel ch = FileChannel.open(file)) {
            while (ch.read(buf) >= 0) {
                buf.flip();
                md.update(buf);
                buf.clear();
            }
        }
        return HexFormat.of().formatHex(md.digest());
    }

    /*
     * Every sector a write covers carries a stamp, so a sector read back says which write put it there and
     * whether it arrived whole:
     *
     *  0        8        16     20                         512
     *  +--------+--------+------+--------------------------+
     *  | sector | seq    | crc  | random filler            |
     *  +--------+--------+------+--------------------------+
     *  crc: CRC32 of bytes 0-15 and 20-511
     */
    private static byte[] stamped(long offset, int sectors, long seq, Random rnd) {
        byte[] data = new byte[sectors * SECTOR];
        rnd.nextBytes(data);
        ByteBuffer b = ByteBuffer.wrap(data);
        for (int s = 0; s < sectors; s++) {
            int at = s * SECTOR;
            b.putLong(at, offset / SECTOR + s).putLong(at + 8, seq).putInt(at + 16, crc(data, at));
        }
        return data;
    }

    private static int crc(byte[] data, int at) {
        CRC32 crc = new CRC32();
        crc.update(data, at, 16);
        crc.update(data, at + 20, SECTOR - 20);
        return (int) crc.getValue();
    }

    /**
     * For each sector of region and tail, the seq of the newest successful write among the first {@code upTo}
     * covering it, or 0 for none.
     */
    private static long[] newest(List<Write> writes, long upTo, int region) {
        long[] seq = new long[(region + TAIL) / SECTOR];
        for (Write w : writes) { // in submission order, so the last one covering a sector wins
            if (w.seq <= upTo && w.succeeded()) {
                for (int s = 0; s < w.sectors; s++) {
                    seq[(int) (w.offset / SECTOR) + s] = w.seq;
                }
            }
        }
        return seq;
    }

    /**
     * Checks that each sector holds the write {@code expected} names, or, where that is 0, what {@code unwritten}
     * says it holds ({@link #ZEROS} or {@link #GOLDEN}).
     */
    private static void check(byte[] disk, long[] expected, IntFunction<String> unwritten, String source,
                              long seed) {
        List<String> wrong = new ArrayList<>();
        for (int s = 0; s < expected.length; s++) {
            String found = describe(disk, s);
            String want = expected[s] == 0 ? unwritten.apply(s) : "write #" + expected[s];
            if (!found.equals(want)) {
                wrong.add("sector " + s + ": expected " + want + ", found " + found);
            }
        }
        if (!wrong.isEmpty()) {
            fail(source + ": " + wrong.size() + " of " + expected.length + " sectors wrong (seed " + seed + "):\n  "
                    + String.join("\n  ", wrong.subList(0, Math.min(20, wrong.size()))));
        }
    }

    /** What a sector holds: "zeros", "write #seq", the golden image (seq 0), or what is wrong with it. */
    private static String describe(byte[] disk, int sector) {
        int at = sector * SECTOR;
        boolean zero = true;
        for (int i = at; i < at + SECTOR && zero; i++) {
            zero = disk[i] == 0;
        }
        if (zero) {
            return "zeros";
        }
        ByteBuffer b = ByteBuffer.wrap(disk);
        long seq = b.getLong(at + 8);
        if (b.getInt(at + 16) != crc(disk, at)) {
            return "a torn or foreign sector (bad checksum; seq field " + seq + ")";
        }
        String what = seq == 0 ? GOLDEN : "write #" + seq;
        if (b.getLong(at) != sector) {
            return what + " meant for sector " + b.getLong(at);
        }
        return what;
    }

    private static byte[] readImage(Path image, int region) throws Exception {
        ByteBuffer buf = ByteBuffer.allocate(region + TAIL);
        try (FileChannel ch = FileChannel.open(image)) {
            while (buf.hasRemaining() && ch.read(buf, buf.position()) >= 0) {
                // positional reads until region and tail are in (the image is larger)
            }
        }
        return buf.array();
    }

    private static String cause(CompletableFuture<Void> f) {
        try {
            f.getNow(null);
            return "not complete";
        } catch (Exception e) {
            return e.getCause() != null ? e.getCause().toString() : e.toString();
        }
    }
}
