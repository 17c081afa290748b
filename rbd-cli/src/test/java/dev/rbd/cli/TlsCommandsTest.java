package dev.rbd.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rbd.protocol.RequiredTools;
import dev.rbd.protocol.tls.TestPki;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * rbd-cli over TLS against nbdkit {@code --tls=require} (certificates from {@code scripts/make-pki.sh}): info, list,
 * write, read and copy with {@code nbds://}, and a certificate failure as one line with the exit status of any other
 * failure to connect. nbdkit is ended by its pid; without it (or certtool) the test is skipped loudly, and fails
 * under {@code CI=true}.
 */
class TlsCommandsTest {
    @TempDir
    static Path dir;
    static Path pki;
    static Path otherCa;
    static Process nbdkit;
    static int port;

    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();

    @BeforeAll
    static void startNbdkit() throws Exception {
        requireNbdkit();
        pki = TestPki.make(dir.resolve("pki"), "alice");
        otherCa = TestPki.make(dir.resolve("other"), null);
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        Path log = dir.resolve("nbdkit.log");
        nbdkit = new ProcessBuilder("nbdkit", "-f", "-i", "127.0.0.1", "-p", String.valueOf(port), "--tls=require",
                "--tls-certificates=" + pki, "memory", "64M").redirectErrorStream(true).redirectOutput(log.toFile())
                .start();
        Awaitility.await().atMost(20, TimeUnit.SECONDS).pollInterval(50, TimeUnit.MILLISECONDS).until(() -> {
            if (!nbdkit.isAlive()) {
                throw new IllegalStateException("nbdkit exited: " + Files.readString(log));
            }
            try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
                return true;
            } catch (IOException notYet) {
                return false;
            }
        });
    }

    @AfterAll
    static void stopNbdkit() throws InterruptedException {
        if (nbdkit != null) {
            nbdkit.destroy();
            if (!nbdkit.waitFor(10, TimeUnit.SECONDS)) {
                nbdkit.destroyForcibly();
            }
        }
    }

    private static void requireNbdkit() {
        RequiredTools.require("nbdkit", "Debian: apt-get install nbdkit");
    }

    private static String uri(Path certificates) {
        return "nbds://127.0.0.1:" + port + "/?tls-certificates=" + certificates;
    }

    private int run(byte[] stdin, String... args) {
        out = new StringWriter();
        err = new StringWriter();
        bytes = new ByteArrayOutputStream();
        CommandLine cmd = RbdCli.commandLine();
        cmd.setOut(new PrintWriter(out, true));
        cmd.setErr(new PrintWriter(err, true));
        ReadCommand read = cmd.getSubcommands().get("read").getCommand();
        read.stdout = bytes;
        WriteCommand write = cmd.getSubcommands().get("write").getCommand();
        write.stdin = new ByteArrayInputStream(stdin != null ? stdin : new byte[0]);
        return cmd.execute(args);
    }

    @Test
    void infoPrintsTheSizeOverTls() {
        assertThat(run(null, "info", uri(pki), "--json")).as(err.toString()).isZero();
        assertThat(out.toString()).contains("\"size\":" + (64 << 20));
    }

    @Test
    void mapsOverTls() {
        byte[] data = new byte[64 << 10];
        Arrays.fill(data, (byte) 7);
        assertThat(run(data, "write", uri(pki), "--offset", "48M")).as(err.toString()).isZero();
        assertThat(run(null, "map", uri(pki))).as(err.toString()).isZero();
        assertThat(out.toString()).as("nbdkit's memory plugin gives base:allocation: a data extent where written")
                .containsPattern("(?m)^  50331648  +\\d+    0  data$").contains("3  hole,zero");
    }

    @Test
    void listsOverTls() {
        assertThat(run(null, "list", uri(pki))).as(err.toString()).isZero();
    }

    @Test
    void writesReadsAndCopiesOverTls() throws IOException {
        byte[] data = new byte[256 << 10];
        new Random(3).nextBytes(data);
        assertThat(run(data, "write", uri(pki), "--offset", "1M")).as(err.toString()).isZero();
        assertThat(run(null, "read", uri(pki), "--offset", "1M", "--length", "256k")).as(err.toString()).isZero();
        assertThat(bytes.toByteArray()).isEqualTo(data);
        Path copy = dir.resolve("copy.img");
        assertThat(run(null, "copy", uri(pki), copy.toString())).as(err.toString()).isZero();
        assertThat(Files.size(copy)).isEqualTo(64 << 20);
        byte[] back = new byte[data.length];
        try (var f = new java.io.RandomAccessFile(copy.toFile(), "r")) {
            f.seek(1 << 20);
            f.readFully(back);
        }
        assertThat(back).isEqualTo(data);
    }

    @Test
    void aServerFromAnotherCaIsOneLineWithTheExitStatusOfAnyConnectFailure() {
        int refused = run(null, "info", "nbd://127.0.0.1:" + freePort() + "/");
        assertThat(run(null, "info", uri(otherCa))).isEqualTo(refused).isEqualTo(1);
        assertThat(out.toString()).isEmpty();
        assertThat(err.toString()).hasLineCount(1)
                .startsWith("rbd-cli info: cannot connect to " + uri(otherCa) + ": TLS handshake failed: "
                        + "certificate not trusted");
    }

    @Test
    void plaintextAgainstTlsRequireSaysUseNbds() {
        assertThat(run(null, "info", "nbd://127.0.0.1:" + port + "/")).isEqualTo(1);
        assertThat(err.toString()).isEqualTo("rbd-cli info: cannot connect to nbd://127.0.0.1:" + port
                + "/: server requires TLS; use nbds://\n");
    }

    @Test
    void aBadTlsQueryValueIsAUsageError() {
        assertThat(run(null, "info", uri(pki) + "&tls-verify-peer=maybe")).isEqualTo(2);
        assertThat(err.toString()).contains("tls-verify-peer=maybe (expected: true or false)");
    }

    private static int freePort() {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
