package dev.rbd.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;
import static org.awaitility.Awaitility.await;

import dev.rbd.server.RbdServerMain;
import java.io.IOException;
import java.lang.ProcessBuilder.Redirect;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.io.TempDir;

/**
 * The real rbd-cli, in a JVM of its own, interrupted by a real SIGINT or SIGTERM in the middle of a {@code copy}
 * into a real rbd-server process: it says so in one line, exits 130 or 143, and has said goodbye (DISC) on its
 * connections, so the export is free at once for the next command, instead of held for a reconnect that will never
 * come. Processes are ended by their pid only.
 */
class InterruptTest {
    /** A copy of this many bytes, one 4k request at a time, runs for seconds: long enough to be interrupted. */
    private static final int SOURCE = 128 << 20;
    /** An upper bound only, for a machine running several builds at once: nothing here is timed. */
    private static final Duration WAIT = Duration.ofSeconds(120);

    @TempDir
    Path dir;
    private final List<Process> started = new ArrayList<>();

    @AfterEach
    void endProcesses() throws InterruptedException {
        for (Process p : started) {
            if (p.isAlive()) {
                p.destroyForcibly();
                p.waitFor(10, TimeUnit.SECONDS);
            }
        }
    }

    @ParameterizedTest(name = "SIG{0} exits {1}")
    @CsvSource({"INT, 130", "TERM, 143"})
    void aSignalDuringACopyExits128PlusItAndLeavesTheExportFreeAtOnce(String signal, int status) throws Exception {
        Path source = dir.resolve("source.raw");
        try (FileChannel ch = FileChannel.open(source, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            ByteBuffer one = ByteBuffer.allocate(1);
            for (long at = 0; at < SOURCE; at += 4096) { // one byte of data in every 4k: nothing is skipped
                one.clear().put(0, (byte) 1);
                ch.write(one, at);
            }
            ch.write(ByteBuffer.allocate(1), SOURCE - 1);
        }
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        Path serverLog = dir.resolve("server.log");
        // the test class path quiets the server's log; its INFO lines explain a failure
        Path logConfig = dir.resolve("server-logback.xml");
        Files.writeString(logConfig, "<configuration>"
                + "<appender name=\"OUT\" class=\"ch.qos.logback.core.ConsoleAppender\">"
                + "<encoder><pattern>%msg%n</pattern></encoder></appender>"
                + "<logger name=\"io.netty\" level=\"WARN\"/><root level=\"INFO\"><appender-ref ref=\"OUT\"/></root>"
                + "</configuration>");
        // a grace period far longer than the test waits: a connection lost without DISC would keep the export
        Process server = start(serverLog, "-Dlogback.configurationFile=" + logConfig, RbdServerMain.class.getName(),
                "export", "--create", "128M", dir.resolve("disk.img").toString(), "--listen", "127.0.0.1:" + port,
                "--session-grace", "600");
        await().atMost(WAIT).pollInterval(Duration.ofMillis(20)).until(() -> accepts(port) || !server.isAlive());
        assertThat(server.isAlive()).as("rbd-server runs; its log:%n%s", read(serverLog)).isTrue();
        String uri = "nbd://127.0.0.1:" + port + "/disk";

        Path copyLog = dir.resolve("copy.log");
        Process copy = start(copyLog, null, RbdCli.class.getName(), "copy", source.toString(), uri, "--chunk", "4k",
                "--qd", "1", "--quiet");
        // the copy is under way once its first block has landed in the server's image
        Path image = dir.resolve("disk.img");
        await().atMost(WAIT).pollInterval(Duration.ofMillis(20)).until(() -> firstByte(image) == 1 || !copy.isAlive());
        assertThat(copy.isAlive()).as("the copy still runs; its output: %s", read(copyLog)).isTrue();
        // the shell's kill builtin: Java can send SIGTERM (Process.destroy) but not SIGINT; by pid only
        assertThat(new ProcessBuilder("sh", "-c", "kill -" + signal + " " + copy.pid()).start().waitFor()).isZero();
        if (!copy.waitFor(WAIT.toSeconds(), TimeUnit.SECONDS)) {
            fail("rbd-cli still running after SIG" + signal + "; its output: " + read(copyLog));
        }
        assertThat(copy.exitValue()).as(read(copyLog)).isEqualTo(status);
        assertThat(read(copyLog).lines().filter(l -> !l.isBlank()).toList()).as("one line on stderr")
                .containsExactly(OpenClients.INTERRUPTED);

        Path writeLog = dir.resolve("write.log");
        Path data = dir.resolve("block");
        Files.write(data, new byte[4096]);
        Process write = new ProcessBuilder(java(null, RbdCli.class.getName(), "write", uri, "--offset", "0"))
                .redirectErrorStream(true).redirectOutput(Redirect.appendTo(writeLog.toFile()))
                .redirectInput(data.toFile()).start();
        started.add(write);
        if (!write.waitFor(WAIT.toSeconds(), TimeUnit.SECONDS)) {
            fail("rbd-cli write still running; its output: " + read(writeLog));
        }
        assertThat(write.exitValue()).as("write right after the interrupted copy: %s; server log:%n%s",
                read(writeLog), read(serverLog)).isZero();
    }

    private Process start(Path log, String jvmOption, String mainClass, String... args) throws IOException {
        Process p = new ProcessBuilder(java(jvmOption, mainClass, args)).redirectErrorStream(true)
                .redirectOutput(Redirect.appendTo(log.toFile())).start();
        started.add(p);
        return p;
    }

    /** A small JVM from this test's class path running {@code mainClass}, with one more option unless null. */
    private static List<String> java(String jvmOption, String mainClass, String... args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElseThrow(
                () -> new IllegalStateException("cannot tell which java runs this test")));
        if (jvmOption != null) {
            cmd.add(jvmOption);
        }
        cmd.addAll(List.of("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xmx256m",
                "-cp", System.getProperty("java.class.path"), mainClass));
        cmd.addAll(List.of(args));
        return cmd;
    }

    private static int firstByte(Path file) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer b = ByteBuffer.allocate(1);
            return ch.read(b, 0) == 1 ? b.get(0) : -1;
        }
    }

    private static boolean accepts(int port) {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 200);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    private static String read(Path log) {
        try {
            return Files.exists(log) ? Files.readString(log, StandardCharsets.UTF_8) : "";
        } catch (IOException e) {
            return "(cannot read " + log + ": " + e + ")";
        }
    }
}
