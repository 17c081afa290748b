package dev.rbd.client;


import dev.rbd.protocol.RequiredTools;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.Assumptions;

/**
 * An nbdkit process on a free loopback port (or a Unix socket) serving {@code memory 64M}, ended by its pid. Without
 * nbdkit a test is skipped loudly, and fails under {@code CI=true} or {@code RBD_INTEROP_REQUIRE_ALL=1}.
 */
final class Nbdkit implements AutoCloseable {
    static final long SIZE = 64 << 20;

    private final Process process;
    private final Path log;
    final int port;

    private Nbdkit(Process process, Path log, int port) {
        this.process = process;
        this.log = log;
        this.port = port;
    }

    /** nbdkit on 127.0.0.1 with these options before the plugin, e.g. {@code --tls=require}. */
    static Nbdkit tcp(Path dir, List<String> options) throws IOException {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        List<String> cmd = new ArrayList<>(List.of("nbdkit", "-f", "-i", "127.0.0.1", "-p", String.valueOf(port)));
        cmd.addAll(options);
        Nbdkit k = start(dir, cmd, port);
        k.await(() -> {
            try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
                return true;
            } catch (IOException notYet) {
                return false;
            }
        });
        return k;
    }

    /** nbdkit on a Unix socket with these options before the plugin. */
    static Nbdkit unix(Path dir, Path socket, List<String> options) throws IOException {
        List<String> cmd = new ArrayList<>(List.of("nbdkit", "-f", "-U", socket.toString()));
        cmd.addAll(options);
        Nbdkit k = start(dir, cmd, 0);
        k.await(() -> Files.exists(socket));
        return k;
    }

    private static Nbdkit start(Path dir, List<String> cmd, int port) throws IOException {
        requireNbdkit();
        cmd.addAll(List.of("memory", "64M"));
        Path log = Files.createTempFile(dir, "nbdkit", ".log");
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true)
                .redirectOutput(log.toFile()).start();
        return new Nbdkit(p, log, port);
    }

    private void await(java.util.concurrent.Callable<Boolean> ready) throws IOException {
        try {
            Awaitility.await().atMost(20, TimeUnit.SECONDS).pollInterval(50, TimeUnit.MILLISECONDS)
                    .until(() -> {
                        if (!process.isAlive()) {
                            throw new IllegalStateException("nbdkit exited: " + Files.readString(log));
                        }
                        return ready.call();
                    });
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** What nbdkit printed so far. */
    String log() throws IOException {
        return Files.readString(log);
    }

    static void requireNbdkit() {
        RequiredTools.require("nbdkit", "Debian: apt-get install nbdkit");
    }

    /** Ends nbdkit by its pid. */
    @Override
    public void close() {
        process.destroy();
        try {
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly();
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }
}
