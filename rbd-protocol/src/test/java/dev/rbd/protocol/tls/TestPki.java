package dev.rbd.protocol.tls;

import dev.rbd.protocol.RequiredTools;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Test certificates made the way a user makes them: {@code scripts/make-pki.sh}, which runs {@code certtool}
 * (Debian {@code gnutls-bin}). Without certtool a test is skipped loudly, and fails under {@code CI=true}.
 */
public final class TestPki {
    private TestPki() {
    }

    /** A fresh CA with a server certificate for localhost, 127.0.0.1 and ::1, and a client certificate for {@code cn}. */
    public static Path make(Path dir, String clientCn) throws IOException, InterruptedException {
        return run(dir, clientCn == null ? List.of() : List.of("--client", clientCn));
    }

    /**
     * {@code scripts/make-pki.sh} with these options (see the script: {@code --server-name}, {@code --client},
     * {@code --expired}, {@code --ca-from}) into {@code dir}; returns {@code dir}.
     */
    public static Path run(Path dir, List<String> options) throws IOException, InterruptedException {
        requireCerttool();
        List<String> cmd = new ArrayList<>(List.of("bash", script().toString()));
        cmd.addAll(options);
        cmd.add(dir.toString());
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IOException("make-pki.sh did not finish");
        }
        if (p.exitValue() != 0) {
            throw new IOException("make-pki.sh " + options + " failed: " + new String(out, StandardCharsets.UTF_8));
        }
        return dir;
    }

    /** Skips the test loudly when certtool is missing; fails it under {@code CI=true}. */
    public static void requireCerttool() {
        RequiredTools.require("certtool", "it makes the test certificates (apt-get install gnutls-bin)");
    }

    /** {@code scripts/make-pki.sh}, found from the module's directory upwards. */
    static Path script() {
        for (Path d = Path.of("").toAbsolutePath(); d != null; d = d.getParent()) {
            Path s = d.resolve("scripts/make-pki.sh");
            if (Files.isRegularFile(s)) {
                return s;
            }
        }
        throw new IllegalStateException("scripts/make-pki.sh not found above " + Path.of("").toAbsolutePath());
    }
}
