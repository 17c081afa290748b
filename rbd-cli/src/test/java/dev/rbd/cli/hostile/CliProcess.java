package dev.rbd.cli.hostile;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rbd.cli.RbdCli;
import java.io.File;
import java.io.IOException;
import java.lang.ProcessBuilder.Redirect;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The real {@code rbd-cli} in a JVM of its own (from the test class path), its output in files, signalled and ended
 * only by its pid.
 */
final class CliProcess implements AutoCloseable {
    private static final AtomicInteger RUNS = new AtomicInteger();

    private final Process process;
    private final Path out;
    private final Path err;

    private CliProcess(Process process, Path out, Path err) {
        this.process = process;
        this.out = out;
        this.err = err;
    }

    /** What a finished run printed and how it exited. */
    record Result(int exit, String out, String err) {
    }

    /** Starts {@code rbd-cli ARGS}, stdin from {@code input} (or nothing). */
    static CliProcess start(Path dir, Path input, String... args) throws IOException {
        int run = RUNS.incrementAndGet();
        Path out = dir.resolve("cli-" + run + ".out");
        Path err = dir.resolve("cli-" + run + ".err");
        List<String> cmd = new ArrayList<>(defaultSigint());
        cmd.addAll(List.of(Java.command(), "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xmx256m",
                "-cp", System.getProperty("java.class.path"), RbdCli.class.getName()));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile());
        pb.redirectInput(input != null ? Redirect.from(input.toFile()) : Redirect.from(new File("/dev/null")));
        return new CliProcess(pb.start(), out, err);
    }

    /** Runs {@code rbd-cli ARGS} to its end (at most a minute). */
    static Result run(Path dir, Path input, String... args) throws IOException, InterruptedException {
        try (CliProcess p = start(dir, input, args)) {
            return p.await(60);
        }
    }

    /**
     * A process started from a shell in the background inherits SIGINT ignored, and a JVM leaves an ignored SIGINT
     * ignored: then Ctrl-C could not be tested. Where this JVM ignores it, the CLI is started through perl, which
     * restores the default and execs java (same pid).
     */
    private static List<String> defaultSigint() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("SigIgn:") && (Long.parseLong(line.substring(7).trim(), 16) & 2) != 0) {
                Tools.require("perl", "to start rbd-cli with SIGINT restored (this JVM inherited it ignored)");
                return List.of("perl", "-e", "$SIG{INT} = 'DEFAULT'; exec @ARGV or die \"exec: $!\"");
            }
        }
        return List.of();
    }

    long pid() {
        return process.pid();
    }

    boolean isAlive() {
        return process.isAlive();
    }

    /** Sends SIGINT (what Ctrl-C sends) to exactly this process. */
    void interrupt() throws IOException, InterruptedException {
        Tools.require("kill", "to send SIGINT by pid");
        Process kill = new ProcessBuilder("kill", "-INT", Long.toString(pid())).inheritIO().start();
        assertThat(kill.waitFor()).as("kill -INT %d", pid()).isZero();
    }

    String stdout() throws IOException {
        return Files.readString(out, StandardCharsets.UTF_8);
    }

    String stderr() throws IOException {
        return Files.readString(err, StandardCharsets.UTF_8);
    }

    /** Waits for the end (at most {@code seconds}; then it is killed and the test fails). */
    Result await(int seconds) throws IOException, InterruptedException {
        if (!process.waitFor(seconds, TimeUnit.SECONDS)) {
            close();
            throw new AssertionError("rbd-cli (pid " + pid() + ") still running after " + seconds + " s; stderr:\n"
                    + stderr());
        }
        return new Result(process.exitValue(), stdout(), stderr());
    }

    @Override
    public void close() {
        if (process.isAlive()) {
            process.destroyForcibly();
            try {
                process.waitFor(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
