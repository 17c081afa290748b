package dev.rbd.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.rbd.protocol.NbdError;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.security.MessageDigest;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Persistent overlays ({@code overlays=DIR}) in a real {@code rbd-server} process: a client's acknowledged writes
 * survive its disconnects, a clean restart and a SIGKILL; other clients and plain NAME see the golden image, which is
 * never written; a bad golden path or overlay directory stops the server at start; a full file system under the
 * overlays fails the writes that do not fit and nothing else. Tests that need a mount (read-only or size-limited
 * tmpfs) skip loudly where mounting is not permitted, and fail under {@code CI=true}.
 */
class PersistentOverlayProcessTest {
    private static final FileTime OLD = FileTime.from(Instant.parse("2020-01-02T03:04:05Z"));
    private static final int SIZE = 8 << 20;
    private static final ClientOptions OPTIONS = ClientOptions.builder().reconnectWait(Duration.ofSeconds(2))
            .backoff(Duration.ofMillis(20), Duration.ofMillis(200)).build();

    @TempDir
    Path dir;

    private Path golden;
    private byte[] goldenBytes;
    private byte[] goldenDigest;
    private Path overlays;
    private ServerProcess server;
    private Path mounted;

    @BeforeEach
    void makeGolden() throws Exception {
        golden = dir.resolve("root.img");
        goldenBytes = new byte[SIZE];
        new Random(11).nextBytes(goldenBytes);
        Files.write(golden, goldenBytes);
        Files.setLastModifiedTime(golden, OLD);
        goldenDigest = sha256(golden);
        overlays = Files.createDirectories(dir.resolve("overlays"));
    }

    @AfterEach
    void stopAndCheckTheGolden() throws Exception {
        try {
            if (server != null) {
                server.close();
            }
        } finally {
            if (mounted != null) {
                run("umount", mounted.toString());
            }
        }
        assertThat(sha256(golden)).as("the golden image is never written").isEqualTo(goldenDigest);
        assertThat(Files.getLastModifiedTime(golden)).as("nor touched").isEqualTo(OLD);
    }

    private static byte[] sha256(Path p) throws Exception {
        return MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(p));
    }

    private static byte[] pattern(int length, int seed) {
        byte[] b = new byte[length];
        new Random(seed).nextBytes(b);
        return b;
    }

    private ServerProcess server(String... exports) throws IOException {
        int port = ServerProcess.freePort();
        String[] args = new String[exports.length + 3];
        args[0] = "export";
        System.arraycopy(exports, 0, args, 1, exports.length);
        args[exports.length + 1] = "--listen";
        args[exports.length + 2] = "127.0.0.1:" + port;
        return new ServerProcess(port, dir.resolve("server.log"), args);
    }

    private RbdClient connect(String export) {
        return connect(export, OPTIONS);
    }

    private RbdClient connect(String export, ClientOptions options) {
        return RbdClient.connect("nbd://127.0.0.1:" + server.port() + "/" + export, options);
    }

    /** Runs a short command and returns its exit status (its output goes to the test's log). */
    private static int run(String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).inheritIO().start();
        if (!p.waitFor(30, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError(String.join(" ", cmd) + " still running after 30 s");
        }
        return p.exitValue();
    }

    /** Mounts a tmpfs with {@code options} at {@code at}; skips (or fails under CI=true) where that is refused. */
    private void mountTmpfs(Path at, String options) throws IOException, InterruptedException {
        int rc = run("mount", "-t", "tmpfs", "-o", options, "tmpfs", at.toString());
        if (rc != 0) {
            String why = "mount -t tmpfs -o " + options + " failed with " + rc + ": this test needs to mount"
                    + " (root, and a sandbox that permits it)";
            if ("true".equals(System.getenv("CI"))) {
                throw new AssertionError(why);
            }
            System.err.println("SKIPPED: " + why);
            Assumptions.abort(why);
        }
        mounted = at;
    }

    @Test
    void aClientsWritesSurviveDisconnectsARestartAndASigkill() throws Exception {
        Path kiosk = dir.resolve("kiosk.img");
        Files.write(kiosk, new byte[1 << 20]);
        server = server("root=" + golden + ",overlays=" + overlays, "kiosk=" + kiosk + ",overlays=temp");
        server.start();
        byte[] first = pattern(65536, 1);
        byte[] second = pattern(12_345, 2);
        byte[] view = goldenBytes.clone();
        try (RbdClient a = connect("root/host-a")) {
            assertThat(a.info().size()).isEqualTo(SIZE);
            assertThat(a.info().exportReadOnly()).isFalse();
            a.write(1 << 20, first, true).join();                 // FUA
            a.write(3 * 4096 + 7, second).join();                 // partial blocks over golden data
            a.flush().join();
            System.arraycopy(first, 0, view, 1 << 20, first.length);
            System.arraycopy(second, 0, view, 3 * 4096 + 7, second.length);
            assertThat(a.read(0, SIZE).join()).isEqualTo(view);
        }
        try (RbdClient b = connect("root/host-b"); RbdClient plain = connect("root")) {
            assertThat(b.read(0, SIZE).join()).as("B does not see A's writes").isEqualTo(goldenBytes);
            assertThat(plain.info().exportReadOnly()).as("plain NAME is the golden image, read-only").isTrue();
            assertThat(plain.read(0, SIZE).join()).isEqualTo(goldenBytes);
        }
        try (RbdClient a = connect("root/host-a")) {
            assertThat(a.read(0, SIZE).join()).as("after a reconnect").isEqualTo(view);
        }

        assertThat(server.stop()).as("a clean stop").isIn(0, ServerProcess.TERMINATED);
        server.start();
        try (RbdClient a = connect("root/host-a")) {
            assertThat(a.read(0, SIZE).join()).as("after a clean restart").isEqualTo(view);
            byte[] third = pattern(8192, 3);
            byte[] fourth = pattern(4096, 4);
            a.write(5 << 20, third, true).join();                 // acknowledged with FUA
            a.write(SIZE - 4096, fourth).join();
            a.flush().join();                                     // acknowledged by FLUSH
            System.arraycopy(third, 0, view, 5 << 20, third.length);
            System.arraycopy(fourth, 0, view, SIZE - 4096, fourth.length);
            assertThat(server.kill()).isEqualTo(ServerProcess.KILLED);
            a.abandon();
        }
        server.start();
        try (RbdClient a = connect("root/host-a")) {
            assertThat(a.read(0, SIZE).join()).as("after SIGKILL: every acknowledged write").isEqualTo(view);
        }
        try (RbdClient b = connect("root/host-b")) {
            assertThat(b.read(0, SIZE).join()).isEqualTo(goldenBytes);
        }
        assertThat(Files.list(overlays).map(p -> p.getFileName().toString()).sorted().toList())
                .as("host-a wrote, so it has a journal too").containsExactly("host-a.journal", "host-a.map",
                        "host-a.overlay", "host-b.map", "host-b.overlay");
    }

    @Test
    void multiConnIsOfferedForAClientAndPlainNameNotForTemporaryOverlays() throws Exception {
        Path kiosk = dir.resolve("kiosk.img");
        Files.write(kiosk, new byte[1 << 20]);
        server = server("root=" + golden + ",overlays=" + overlays, "kiosk=" + kiosk + ",overlays=temp");
        server.start();
        ClientOptions two = OPTIONS.toBuilder().connections(2).build();
        try (RbdClient a = connect("root/host-a", two); RbdClient plain = connect("root", two)) {
            assertThat(a.info().canMultiConn()).isTrue();
            assertThat(a.connections()).isEqualTo(2);
            assertThat(plain.info().canMultiConn()).isTrue();
            byte[] data = pattern(65536, 5);
            // spread over both connections; every read after the writes sees them all
            List<java.util.concurrent.CompletableFuture<Void>> writes = new java.util.ArrayList<>();
            for (int i = 0; i < 16; i++) {
                writes.add(a.write(i * 4096L, Arrays.copyOfRange(data, i * 4096, (i + 1) * 4096)));
            }
            writes.forEach(java.util.concurrent.CompletableFuture::join);
            a.flush().join();
            for (int i = 0; i < 8; i++) {
                assertThat(a.read(0, 65536).join()).isEqualTo(data);
            }
        }
        try (RbdClient k = connect("kiosk/host-a")) {
            assertThat(k.info().canMultiConn()).as("a temporary overlay is one connection's own").isFalse();
        }
    }

    @Test
    void anUnknownGoldenImageStopsTheServer() throws Exception {
        Path missing = dir.resolve("no-such.img");
        server = server("root=" + missing + ",overlays=" + overlays);
        assertThat(server.runToRefusal()).isEqualTo(1);
        assertThat(server.log()).contains(missing.toString()).contains("image does not exist");
        assertThat(Files.list(overlays)).isEmpty();
    }

    @Test
    void aMissingOverlayDirectoryStopsTheServer() throws Exception {
        Path missing = dir.resolve("no-such-dir");
        server = server("root=" + golden + ",overlays=" + missing);
        assertThat(server.runToRefusal()).isEqualTo(1);
        assertThat(server.log()).contains(missing.toString()).contains("overlay directory does not exist");
        assertThat(missing).doesNotExist();
    }

    @Test
    void aReadOnlyOverlayDirectoryStopsTheServer() throws Exception {
        Path ro = Files.createDirectories(dir.resolve("ro"));
        mountTmpfs(ro, "ro,size=64k");
        server = server("root=" + golden + ",overlays=" + ro);
        assertThat(server.runToRefusal()).isEqualTo(1);
        assertThat(server.log()).contains(ro.toString()).contains("overlay directory is not writable");
    }

    @Test
    void aFullFileSystemFailsTheWritesThatDoNotFitAndNothingElse() throws Exception {
        Path small = Files.createDirectories(dir.resolve("small"));
        mountTmpfs(small, "size=512k");
        Path plainImage = dir.resolve("plain.img");
        server = server("root=" + golden + ",overlays=" + small, "plain=" + plainImage, "--create", "1M");
        server.start();
        try (RbdClient a = connect("root/host-a"); RbdClient b = connect("root/host-b");
             RbdClient plain = connect("plain")) {
            byte[] chunk = pattern(65536, 6);
            int written = 0;
            NbdError failure = null;
            for (int i = 0; i < SIZE / chunk.length && failure == null; i++) {
                try {
                    a.write((long) i * chunk.length, chunk).join();
                    written++;
                } catch (CompletionException e) {
                    assertThat(e.getCause()).isInstanceOf(NbdErrorException.class);
                    failure = ((NbdErrorException) e.getCause()).error();
                }
            }
            assertThat(failure).as("a 512 KiB file system fills before 8 MiB").isEqualTo(NbdError.ENOSPC);
            assertThat(written).as("what fitted was written").isGreaterThan(0);
            // that request only: A's connection reads on, B reads, a plain export writes, the server runs
            for (int i = 0; i < written; i++) {
                assertThat(a.read((long) i * chunk.length, chunk.length).join()).isEqualTo(chunk);
            }
            assertThat(a.read((long) written * chunk.length, chunk.length).join()).as("the failed write: golden")
                    .isEqualTo(Arrays.copyOfRange(goldenBytes, written * chunk.length, (written + 1) * chunk.length));
            assertThat(b.read(0, SIZE).join()).isEqualTo(goldenBytes);
            plain.write(0, chunk).join();
            plain.flush().join();
            assertThat(plain.read(0, chunk.length).join()).isEqualTo(chunk);
            // room again (A trims what it wrote): A writes again
            a.trim(0, (long) written * chunk.length).join();
            a.write(0, chunk).join();
            a.flush().join();
            assertThat(a.read(0, chunk.length).join()).isEqualTo(chunk);
            assertThat(server.isAlive()).isTrue();
        }
        assertThatThrownBy(() -> Files.writeString(small.resolve("x"), "x".repeat(1 << 20)))
                .as("the file system really is that small").isInstanceOf(IOException.class);
    }

    /**
     * The block map's pages are stored when a sync writes them: were they holes of a sparse map file, the first write
     * to a region of the image whose map page was never written could take the last free space for its data, then
     * fail its sync writing the page, and a failed sync fails the client's export for good. Blocks 16384 and up have
     * their states in the map's second page.
     */
    @Test
    void aFullFileSystemNeverFailsTheSyncOfTheBlockMap() throws Exception {
        Path big = dir.resolve("big.img");
        try (java.io.RandomAccessFile f = new java.io.RandomAccessFile(big.toFile(), "rw")) {
            f.setLength(256L << 20);    // sparse: the map has 4 pages
        }
        Path small = Files.createDirectories(dir.resolve("small"));
        mountTmpfs(small, "size=256k");
        server = server("big=" + big + ",overlays=" + small);
        server.start();
        try (RbdClient a = connect("big/host-a")) {
            byte[] block = pattern(4096, 7);
            int written = 0;
            boolean full = false;
            while (!full) {          // fill the file system, 4 KiB at a time, in the first map page's region
                try {
                    a.write((long) written * 4096, block).join();
                    written++;
                } catch (CompletionException e) {
                    assertThat(((NbdErrorException) e.getCause()).error()).isEqualTo(NbdError.ENOSPC);
                    full = true;
                }
                assertThat(written).as("a 256 KiB file system fills").isLessThan(256);
            }
            a.trim(0, 4096).join();                  // frees one page
            long far = 64L << 20;                    // block 16384: the map's second page
            try {
                a.write(far, block).join();
            } catch (CompletionException e) {
                assertThat(((NbdErrorException) e.getCause()).error()).as("only ENOSPC, never a failed sync")
                        .isEqualTo(NbdError.ENOSPC);
            }
            a.flush().join();
            assertThat(a.read(4096, 4096).join()).as("the client's export still works").isEqualTo(block);
            a.trim(4096, 4096).join();
            a.write(0, block).join();
            a.flush().join();
        }
    }
}
