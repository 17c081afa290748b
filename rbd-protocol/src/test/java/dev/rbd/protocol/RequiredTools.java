package dev.rbd.protocol;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;

/**
 * External programs a test needs, for every module's tests: a missing one skips the test loudly, and fails it in CI
 * ({@code CI=true} or {@code RBD_INTEROP_REQUIRE_ALL=1}).
 */
public final class RequiredTools {
    private RequiredTools() {
    }

    /** Whether an executable {@code name} is on PATH. */
    public static boolean onPath(String name) {
        for (String d : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
            if (!d.isEmpty() && Files.isExecutable(Path.of(d, name))) {
                return true;
            }
        }
        return false;
    }

    /** Skips the test loudly when {@code name} is missing ({@code why}: what it is for, how to install it). */
    public static void require(String name, String why) {
        if (onPath(name)) {
            return;
        }
        String message = "SKIPPED: " + name + " is not on PATH; " + why;
        if ("true".equals(System.getenv("CI")) || "1".equals(System.getenv("RBD_INTEROP_REQUIRE_ALL"))) {
            fail(message + " (CI=true or RBD_INTEROP_REQUIRE_ALL=1: every tool must be installed)");
        }
        System.err.println(message);
        Assumptions.abort(message);
    }
}
