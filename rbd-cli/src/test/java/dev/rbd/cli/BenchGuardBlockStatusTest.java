package dev.rbd.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import dev.rbd.client.ClientOptions;
import dev.rbd.client.RbdClient;
import dev.rbd.protocol.MetaContext;
import java.io.File;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * The bench guard against a server that offers BLOCK_STATUS (nbdkit's memory plugin, whose unwritten pages are
 * holes): data anywhere is still found, and what the server reports as zeroes is not read. nbdkit is started on a
 * free loopback port and ended by its pid; without it the test is skipped loudly, and fails where CI=true or
 * RBD_INTEROP_REQUIRE_ALL=1.
 */
class BenchGuardBlockStatusTest {
    private static final long SIZE = 16 << 20;

    @TempDir
    Path dir;
    private Process nbdkit;
    private final StringWriter out = new StringWriter();
    private final StringWriter err = new StringWriter();

    @AfterEach
    void stop() throws InterruptedException {
        if (nbdkit != null && nbdkit.isAlive()) {
            nbdkit.destroy();
            if (!nbdkit.waitFor(10, TimeUnit.SECONDS)) {
                nbdkit.destroyForcibly();
                nbdkit.waitFor(10, TimeUnit.SECONDS);
            }
        }
    }

    @Test
    void dataAt1MAnd4MTo14MIsFoundAndTheHolesAreNotRead() throws Exception {
        String uri = startNbdkit();
        byte[] mib = new byte[1 << 20];
        Arrays.fill(mib, (byte) 0x5a);
        try (RbdClient c = RbdClient.connect(uri, ClientOptions.builder().blockStatus(true).build())) {
            assertThat(c.info().blockStatus()).as("nbdkit gives base:allocation").isTrue();
            List<MetaContext.Extent> before = c.blockStatus(0, (int) SIZE).join();
            assertThat(before.get(0).zero()).isTrue();
            c.write(1 << 20, new byte[] {1, 0, 0, 0, 0, 0, 0, 0}).join();
            for (long at = 4 << 20; at < 14 << 20; at += mib.length) {
                c.write(at, mib).join();
            }
            List<MetaContext.Extent> after = c.blockStatus(0, (int) SIZE).join();
            assertThat(after.get(0)).as("a hole up to the first data").isEqualTo(
                    new MetaContext.Extent(1 << 20, MetaContext.STATE_HOLE | MetaContext.STATE_ZERO));
            assertThat(after.get(1).zero()).isFalse();
        }
        int readsBefore = readOffsets().size();
        assertThat(bench(uri, "--pattern", "randwrite", "--bs", "512")).isEqualTo(1);
        assertThat(err.toString()).hasLineCount(1).contains("holds data", "at offset 1048576", "--force");
        List<Long> scanned = readOffsets().subList(readsBefore, readOffsets().size());
        assertThat(scanned).as("the guard read only where BLOCK_STATUS reported data").isNotEmpty()
                .allMatch(at -> at >= 1 << 20);
    }

    @Test
    void theVeryLastByteIsFoundAndForceStillRuns() throws Exception {
        String uri = startNbdkit();
        try (RbdClient c = RbdClient.connect(uri)) {
            c.write(SIZE - 1, new byte[] {9}).join();
        }
        assertThat(bench(uri, "--pattern", "write")).isEqualTo(1);
        assertThat(err.toString()).contains("at offset " + (SIZE - 1));
        assertThat(bench(uri, "--pattern", "write", "--force")).as(err.toString()).isZero();
        assertThat(out.toString()).contains("write");
    }

    @Test
    void anEmptyExportIsBenchmarkedWithoutForce() throws Exception {
        String uri = startNbdkit();
        assertThat(bench(uri, "--pattern", "randwrite")).as(err.toString()).isZero();
        assertThat(out.toString()).contains("randwrite");
        assertThat(readOffsets()).as("nothing to read: nbdkit reported the whole export as a hole").isEmpty();
    }

    private int bench(String uri, String... options) {
        List<String> args = new ArrayList<>(List.of("bench", uri, "--duration=300ms", "--ramp=0"));
        args.addAll(List.of(options));
        CommandLine cmd = RbdCli.commandLine();
        cmd.setOut(new PrintWriter(out, true));
        cmd.setErr(new PrintWriter(err, true));
        return cmd.execute(args.toArray(new String[0]));
    }

    /** The offsets of the READs nbdkit's log filter recorded so far. */
    private List<Long> readOffsets() throws IOException {
        List<Long> offsets = new ArrayList<>();
        Path log = dir.resolve("requests.log");
        if (!Files.exists(log)) {
            return offsets;
        }
        Matcher m = Pattern.compile("Read id=\\d+ offset=0x([0-9a-f]+)").matcher(Files.readString(log));
        while (m.find()) {
            offsets.add(Long.parseLong(m.group(1), 16));
        }
        return offsets;
    }

    private String startNbdkit() throws Exception {
        if (!onPath("nbdkit")) {
            String msg = "SKIP: nbdkit is not installed (Debian: apt-get install nbdkit)";
            if ("true".equals(System.getenv("CI")) || "1".equals(System.getenv("RBD_INTEROP_REQUIRE_ALL"))) {
                fail(msg + ", and CI forbids skipping");
            }
            System.err.println(msg);
            Assumptions.assumeTrue(false, msg);
        }
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        nbdkit = new ProcessBuilder("nbdkit", "-f", "-i", "127.0.0.1", "-p", String.valueOf(port),
                "--filter=log", "memory", String.valueOf(SIZE), "logfile=" + dir.resolve("requests.log"))
                .directory(dir.toFile()).redirectErrorStream(true)
                .redirectOutput(dir.resolve("nbdkit.out").toFile()).start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (System.nanoTime() < deadline) {
            if (!nbdkit.isAlive()) {
                fail("nbdkit exited: " + Files.readString(dir.resolve("nbdkit.out")));
            }
            try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
                return "nbd://127.0.0.1:" + port + "/";
            } catch (IOException notYet) {
                java.util.concurrent.locks.LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(50));
            }
        }
        fail("nbdkit did not listen on port " + port + " within 20 s");
        return null;
    }

    private static boolean onPath(String tool) {
        for (String d : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
            if (Files.isExecutable(Path.of(d, tool))) {
                return true;
            }
        }
        return false;
    }
}
