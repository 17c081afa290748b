package dev.rbd.cli.hostile;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import dev.rbd.server.RbdServerMain;
import java.io.IOException;
import java.lang.ProcessBuilder.Redirect;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A real {@code rbd-server} process, started from the test class path with the memory limits of a small machine
 * ({@code -Xmx256m -XX:MaxDirectMemorySize=256m}) and Netty's leak detection at paranoid, listening on
 * {@code 127.0.0.1:port}, its output in a log file. Ended only by its pid. {@link #assertHealthy()} fails on the
 * signs of a server a client broke: a leak report, a thread killed by an exception, an out-of-memory error.
 */
public final class ServerUnderTest implements AutoCloseable {
    private static final Duration START_TIMEOUT = Duration.ofSeconds(30);
    /** What a broken server prints: Netty's leak report, the JVM's last words for a thread, an event loop's. */
    private static final List<String> BROKEN = List.of("LEAK:", "Exception in thread", "OutOfMemoryError",
            "Unexpected exception from an event executor", "Uncaught exception");

    private final int port;
    private final Path log;
    private final List<String> args;
    private final List<String> jvmArgs = new ArrayList<>();
    private Process process;

    private ServerUnderTest(int port, Path log, List<String> args) {
        this.port = port;
        this.log = log;
        this.args = args;
    }

    /**
     * A server of {@code rbd-server export EXPORT-ARGS --listen 127.0.0.1:PORT} on a free port, logging to
     * {@code dir/name.log}; not started yet.
     */
    public static ServerUnderTest export(Path dir, String name, String... exportArgs) throws IOException {
        int port = freePort();
        List<String> args = new ArrayList<>();
        args.add("export");
        args.addAll(List.of(exportArgs));
        args.addAll(List.of("--listen", "127.0.0.1:" + port));
        return new ServerUnderTest(port, dir.resolve(name + ".log"), args);
    }

    public static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    public int port() {
        return port;
    }

    /** Adds options for the server's JVM (before it starts). */
    public ServerUnderTest jvm(String... options) {
        jvmArgs.addAll(List.of(options));
        return this;
    }

    /** {@code nbd://127.0.0.1:PORT/export}. */
    public String uri(String export) {
        return "nbd://127.0.0.1:" + port + "/" + export;
    }

    public long pid() {
        return process.pid();
    }

    private Process launch() throws IOException {
        List<String> cmd = new ArrayList<>(List.of(Java.command(), "-Xmx256m", "-XX:MaxDirectMemorySize=256m",
                "-Dio.netty.leakDetection.level=paranoid", "-Dio.netty.leakDetection.targetRecords=8",
                "-Dlogback.configurationFile=" + logbackConfig(), "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"));
        cmd.addAll(jvmArgs);
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), RbdServerMain.class.getName()));
        cmd.addAll(args);
        Files.writeString(log, "---- rbd-server " + String.join(" ", args) + "\n", StandardCharsets.UTF_8);
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().put("MALLOC_MMAP_THRESHOLD_", "1048576"); // as scripts/rbd-server sets it
        return pb.redirectErrorStream(true).redirectOutput(Redirect.appendTo(log.toFile())).start();
    }

    private static String logbackConfig() {
        try {
            return Path.of(ServerUnderTest.class.getResource("server-logback.xml").toURI()).toString();
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Starts the server; returns once its TCP port accepts connections. */
    public ServerUnderTest start() throws IOException, InterruptedException {
        process = launch();
        long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
        while (!accepts()) {
            if (!process.isAlive()) {
                fail("rbd-server exited with " + process.exitValue() + " before listening; its log:\n" + log());
            }
            if (System.nanoTime() > deadline) {
                close();
                fail("rbd-server not listening after " + START_TIMEOUT + "; its log:\n" + log());
            }
            Thread.sleep(20); // polling a connect: the server has no other way to say it is up
        }
        return this;
    }

    /** Runs a server that is expected to refuse to start; returns its exit status. */
    public int runToRefusal() throws IOException, InterruptedException {
        process = launch();
        if (!process.waitFor(START_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
            close();
            fail("rbd-server still running although it should have refused; its log:\n" + log());
        }
        return process.exitValue();
    }

    private boolean accepts() {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 200);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    public boolean isAlive() {
        return process != null && process.isAlive();
    }

    /** SIGKILL by pid, and waits for the process to be gone. */
    public void kill() throws InterruptedException {
        process.destroyForcibly();
        assertThat(process.waitFor(10, TimeUnit.SECONDS)).as("rbd-server gone after SIGKILL").isTrue();
    }

    public String log() {
        try {
            return Files.readString(log, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "(cannot read " + log + ": " + e + ")";
        }
    }

    /** The server still runs and its log shows no leak, no dead thread, no out-of-memory error. */
    public void assertHealthy() {
        assertThat(isAlive()).as("rbd-server still running; its log:\n%s", log()).isTrue();
        assertLogClean();
    }

    public void assertLogClean() {
        String text = log();
        for (String sign : BROKEN) {
            assertThat(text).as("rbd-server's log must not show \"%s\"; its log:\n%s", sign, text).doesNotContain(sign);
        }
    }

    /** VmRSS of the process in KiB, from /proc. */
    public long rssKib() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid()), "status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        throw new IOException("no VmRSS in /proc/" + pid() + "/status");
    }

    /** Open file descriptors of the process. */
    public long fds() throws IOException {
        try (Stream<Path> s = Files.list(Path.of("/proc", Long.toString(pid()), "fd"))) {
            return s.count();
        }
    }

    /** Threads of the process. */
    public long threads() throws IOException {
        try (Stream<Path> s = Files.list(Path.of("/proc", Long.toString(pid()), "task"))) {
            return s.count();
        }
    }

    /** SIGKILL if it still runs, so no test leaves a server behind. */
    @Override
    public void close() {
        if (isAlive()) {
            process.destroyForcibly();
            try {
                process.waitFor(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
