package dev.rbd.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.File;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The client against servers nobody here wrote: nbdkit, qemu-nbd and nbd-server, started on a free loopback port and
 * ended by their pid. A missing tool skips with a message, or fails where RBD_INTEROP_REQUIRE_ALL=1 (CI installs them).
 */
class ForeignServerTest {
    @TempDir
    Path dir;

    @Test
    void readsWritesFlushesAndTrimsAgainstNbdkit() throws Exception {
        int port = freePort();
        exercise(start(List.of("nbdkit", "-f", "-i", "127.0.0.1", "-p", String.valueOf(port), "memory", "64M"),
                port), "nbd://127.0.0.1:" + port + "/", 64 << 20);
    }

    @Test
    void readsWritesFlushesAndTrimsAgainstQemuNbd() throws Exception {
        Path img = dir.resolve("q.img");
        try (java.io.RandomAccessFile f = new java.io.RandomAccessFile(img.toFile(), "rw")) {
            f.setLength(32 << 20);
        }
        int port = freePort();
        exercise(start(List.of("qemu-nbd", "-f", "raw", "-b", "127.0.0.1", "-p", String.valueOf(port), "-x", "disk",
                "-t", "--discard=unmap", img.toString()), port), "nbd://127.0.0.1:" + port + "/disk", 32 << 20);
    }

    @Test
    void readsWritesFlushesAndTrimsAgainstNbdServer() throws Exception {
        Path img = dir.resolve("n.img");
        try (java.io.RandomAccessFile f = new java.io.RandomAccessFile(img.toFile(), "rw")) {
            f.setLength(32 << 20);
        }
        int port = freePort();
        // No user/group lines: nbd-server then keeps the uid and gid it was started with, root or not.
        Path config = dir.resolve("nbd-server.conf");
        Files.writeString(config, String.join("\n",
                "[generic]",
                "port = " + port,
                "listenaddr = 127.0.0.1",
                "[disk]",
                "exportname = " + img,
                "trim = true",
                "flush = true",
                "fua = true",
                ""));
        // -d keeps it in the foreground (our child, ended by its pid), but then it serves exactly one connection
        // and exits: readiness is read from /proc/net/tcp instead of a probing connect.
        exercise(start(List.of("nbd-server", "-C", config.toString(), "-d"), port, () -> listening(port)),
                "nbd://127.0.0.1:" + port + "/disk", 32 << 20);
    }

    private static void exercise(Process server, String uri, long size) throws Exception {
        try (RbdClient c = RbdClient.connect(uri)) {
            assertThat(c.info().size()).isEqualTo(size);
            // they decline rbd's session option: no fencing, and acks are not known to be durable
            assertThat(c.info().fencing()).isFalse();
            assertThat(c.info().durableAcks()).isFalse();
            byte[] data = new byte[300_000];
            new Random(7).nextBytes(data);
            c.write(4096, data, c.info().canFua()).join();
            assertThat(c.read(4096, data.length).join()).isEqualTo(data);
            c.flush().join();
            if (c.info().canWriteZeroes()) {
                c.writeZeroes(4096, 8192, false).join();
                assertThat(c.read(4096, 8192).join()).containsOnly(0);
            }
            if (c.info().canTrim()) {
                c.trim(1 << 20, 65536).join();
            }
            assertThatThrownBy(() -> c.read(size, 512).join()).cause().isInstanceOf(NbdErrorException.class);
            assertThat(c.read(0, 512).join()).hasSize(512);
        } finally {
            server.destroy();
            if (!server.waitFor(10, TimeUnit.SECONDS)) {
                server.destroyForcibly();
            }
        }
    }

    private Process start(List<String> command, int port) throws Exception {
        return start(command, port, () -> {
            try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
                return true;
            } catch (IOException notYet) {
                return false;
            }
        });
    }

    /** Whether the server listens yet; may be asked many times. */
    @FunctionalInterface
    private interface Readiness {
        boolean ready() throws IOException;
    }

    private Process start(List<String> command, int port, Readiness readiness) throws Exception {
        if (!onPath(command.get(0))) {
            String msg = "SKIP: " + command.get(0) + " is not installed (Debian: apt-get install "
                    + (command.get(0).equals("qemu-nbd") ? "qemu-utils" : command.get(0)) + ")";
            if ("1".equals(System.getenv("RBD_INTEROP_REQUIRE_ALL"))) {
                fail(msg + ", and RBD_INTEROP_REQUIRE_ALL=1 forbids skipping");
            }
            System.err.println(msg);
            Assumptions.assumeTrue(false, msg);
        }
        // in the temp dir, so nothing the server looks for in its working directory (nbd_server.allow) is found
        Process p = new ProcessBuilder(new ArrayList<>(command)).directory(dir.toFile()).redirectErrorStream(true)
                .redirectOutput(dir.resolve(command.get(0) + ".log").toFile()).start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (System.nanoTime() < deadline) {
            if (!p.isAlive()) {
                fail(command.get(0) + " exited: " + Files.readString(dir.resolve(command.get(0) + ".log")));
            }
            if (readiness.ready()) {
                return p;
            }
            java.util.concurrent.locks.LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(50));
        }
        p.destroyForcibly();
        fail(command.get(0) + " did not listen on port " + port + " within 20 s");
        return p;
    }

    /** Whether some socket listens on TCP {@code port} over IPv4, as the kernel reports it (state 0A is LISTEN). */
    private static boolean listening(int port) throws IOException {
        String local = String.format(":%04X ", port);
        for (String line : Files.readAllLines(Path.of("/proc/net/tcp"))) {
            String[] f = line.trim().split("\\s+");
            if (f.length > 3 && (f[1] + " ").endsWith(local) && f[3].equals("0A")) {
                return true;
            }
        }
        return false;
    }

    private static boolean onPath(String tool) {
        for (String d : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
            if (Files.isExecutable(Path.of(d, tool))) {
                return true;
            }
        }
        return false;
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }
}
