package dev.rbd.cli;

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

/**
 * An nbdkit process on a free loopback port, in the foreground so it is ended by its pid; its output goes to
 * {@code nbdkit.out} in the given directory. Without nbdkit the test is skipped loudly (a failure in CI).
 */
final class NbdkitProcess implements AutoCloseable {
    private final Process process;
    final int port;

    private NbdkitProcess(Process process, int port) {
        this.process = process;
        this.port = port;
    }

    /** Starts {@code nbdkit -f -i 127.0.0.1 -p PORT ARGS...} and waits until it listens. */
    static NbdkitProcess start(Path dir, String... args) throws Exception {
        RequiredTools.require("nbdkit", "Debian: apt-get install nbdkit");
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        List<String> command = new ArrayList<>(List.of("nbdkit", "-f", "-i", "127.0.0.1", "-p",
                String.valueOf(port)));
        command.addAll(List.of(args));
        Path out = dir.resolve("nbdkit.out");
        Process p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true)
                .redirectOutput(out.toFile()).start();
        NbdkitProcess nbdkit = new NbdkitProcess(p, port);
        try {
            Awaitility.await().atMost(20, TimeUnit.SECONDS).pollInterval(50, TimeUnit.MILLISECONDS).until(() -> {
                if (!p.isAlive()) {
                    throw new IllegalStateException("nbdkit exited: " + Files.readString(out));
                }
                try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
                    return true;
                } catch (IOException notYet) {
                    return false;
                }
            });
        } catch (RuntimeException e) {
            nbdkit.close();
            throw e;
        }
        return nbdkit;
    }

    String uri() {
        return "nbd://127.0.0.1:" + port + "/";
    }

    @Override
    public void close() {
        ProcessHandle.of(process.pid()).ifPresent(ProcessHandle::destroy);
        try {
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                process.waitFor(10, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }
}
