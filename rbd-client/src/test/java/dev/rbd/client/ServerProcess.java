package dev.rbd.client;

import static org.assertj.core.api.Assertions.fail;

import dev.rbd.server.RbdServerMain;
import java.io.IOException;
import java.lang.ProcessBuilder.Redirect;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * An {@code rbd-server} in a JVM of its own, started from the test class path, so a test can kill it with SIGKILL
 * (no shutdown hook, no last sync: a real crash) and start it again on the same port. Output of every run is
 * appended to one log file, quoted when the server fails to come up. The process is only ever ended by its pid
 * ({@link Process#destroyForcibly()} and {@link Process#destroy()} signal exactly that process). Thread-safe, so a
 * test may kill and restart it from a thread of its own.
 */
final class ServerProcess implements AutoCloseable {
    private static final Duration START_TIMEOUT = Duration.ofSeconds(20);
    /** 128 + the signal number: what {@link Process#exitValue()} reports for a process killed by a signal. */
    static final int KILLED = 128 + 9;
    static final int TERMINATED = 128 + 15;

    private final int port;
    private final Path log;
    private final List<String> args;
    private Process process;
    private int runs;

    /** A server listening on {@code 127.0.0.1:port} with the given {@code rbd-server} arguments. */
    ServerProcess(int port, Path log, String... args) {
        this.port = port;
        this.log = log;
        this.args = List.of(args);
    }

    /** The TCP port it listens on. */
    int port() {
        return port;
    }

    /** A port free right now, for a server that must come back on the same port after each crash. */
    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    /** Starts the server's JVM (from this test's class path), its output appended to the log. */
    private Process launch() throws IOException {
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElseThrow(
                () -> new IllegalStateException("cannot tell which java runs this test")));
        // a small, quickly started JVM: the test restarts it several times on a 2-core machine
        cmd.addAll(List.of("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xmx256m",
                "-cp", System.getProperty("java.class.path"), RbdServerMain.class.getName()));
        cmd.addAll(args);
        runs++;
        Files.writeString(log, "---- run " + runs + ": rbd-server " + String.join(" ", args) + "\n",
                StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(Redirect.appendTo(log.toFile()));
        pb.environment().put("RBD_LOG_LEVEL", "INFO");   // its log is a file the tests read: what it did, too
        return pb.start();
    }

    /** Starts the server and returns once its port accepts connections. */
    synchronized void start() throws IOException, InterruptedException {
        if (process != null && process.isAlive()) {
            throw new IllegalStateException("rbd-server already running as pid " + process.pid());
        }
        process = launch();
        long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
        while (!accepts()) {
            if (!process.isAlive()) {
                fail("rbd-server exited with " + process.exitValue() + " before listening on port " + port
                        + "; its log:\n" + log());
            }
            if (System.nanoTime() > deadline) {
                close();
                fail("rbd-server not listening on port " + port + " after " + START_TIMEOUT + "; its log:\n" + log());
            }
            Thread.sleep(20); // polling a connect: the server has no other way to say it is up
        }
    }

    /**
     * Runs the server where it is expected to refuse to start: waits for it to exit (at most the start timeout) and
     * returns its exit status; one still running by then is killed and fails the test.
     */
    synchronized int runToRefusal() throws IOException, InterruptedException {
        process = launch();
        if (!process.waitFor(START_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
            close();
            fail("rbd-server still running after " + START_TIMEOUT + " although it should have refused; its log:\n"
                    + log());
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

    /** SIGKILL ({@link Process#destroyForcibly()} on Linux), then waits for the process to be gone. */
    int kill() throws InterruptedException {
        return end(true);
    }

    /** SIGTERM: the server's shutdown hook closes its exports cleanly. */
    int stop() throws InterruptedException {
        return end(false);
    }

    private synchronized int end(boolean forcibly) throws InterruptedException {
        if (forcibly) {
            process.destroyForcibly();
        } else {
            process.destroy();
        }
        if (!process.waitFor(10, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            process.waitFor(10, TimeUnit.SECONDS);
            fail("rbd-server (pid " + process.pid() + ") still running 10 s after "
                    + (forcibly ? "SIGKILL" : "SIGTERM"));
        }
        return process.exitValue();
    }

    synchronized boolean isAlive() {
        return process != null && process.isAlive();
    }

    String log() {
        try {
            return Files.readString(log, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "(cannot read " + log + ": " + e + ")";
        }
    }

    /** Kills the server if it still runs, so no test leaves one behind. */
    @Override
    public synchronized void close() {
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
