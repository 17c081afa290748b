package dev.rbd.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs an external tool (nbdinfo, qemu-img, nbdcopy, ...) to its end for tests against real clients. */
public final class ToolRun {
    /** A tool's exit status and its output, stdout and stderr together. */
    public record Result(int exit, String output) {
    }

    private ToolRun() {
    }

    /** Runs the tool; at most a minute, then it is killed by its pid and the test fails. */
    public static Result run(List<String> cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        byte[] out;
        try (var in = p.getInputStream()) {
            out = in.readAllBytes();
        }
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            fail(String.join(" ", cmd) + " did not finish in a minute");
        }
        return new Result(p.exitValue(), new String(out, StandardCharsets.UTF_8));
    }

    public static Result run(String... cmd) throws IOException, InterruptedException {
        return run(List.of(cmd));
    }

    /** Runs the tool and asserts that it exits 0; returns its output. */
    public static String ok(String... cmd) throws IOException, InterruptedException {
        Result r = run(cmd);
        assertThat(r.exit()).as("%s:\n%s", String.join(" ", cmd), r.output()).isZero();
        return r.output();
    }
}
