package dev.rbd.cli.hostile;

import static org.assertj.core.api.Assertions.fail;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;

/** External programs a test needs: a missing one skips the test loudly, and fails it in CI ({@code CI=true}). */
public final class Tools {
    private Tools() {
    }

    public static boolean onPath(String name) {
        String path = System.getenv().getOrDefault("PATH", "");
        for (String d : path.split(File.pathSeparator)) {
            if (!d.isEmpty() && Files.isExecutable(Path.of(d, name))) {
                return true;
            }
        }
        return false;
    }

    public static void require(String name, String why) {
        if (onPath(name)) {
            return;
        }
        String message = "SKIPPED: " + name + " is not on PATH; it is needed " + why;
        if ("true".equals(System.getenv("CI"))) {
            fail(message + " (CI=true: every tool must be installed)");
        }
        System.err.println(message);
        Assumptions.abort(message);
    }
}
