package dev.rbd.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.net.ConnectException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What one rbd-server holds, no second server process takes: a read-write image (advisory lock), and a live
 * {@code --unix} socket; a stale socket, left by a server that was killed, is replaced. Real server processes, ended
 * by their pids.
 */
class ExclusiveResourcesTest {
    private static final ClientOptions NO_RECONNECT = ClientOptions.builder().reconnectWait(Duration.ZERO).build();

    @TempDir
    Path dir;

    private ServerProcess server(String name, String... exportArgs) throws IOException {
        int port = ServerProcess.freePort();
        String[] args = new String[exportArgs.length + 3];
        args[0] = "export";
        System.arraycopy(exportArgs, 0, args, 1, exportArgs.length);
        args[args.length - 2] = "--listen";
        args[args.length - 1] = "127.0.0.1:" + port;
        return new ServerProcess(port, dir.resolve(name + ".log"), args);
    }

    @Test
    void aSecondServerRefusesAnImageAnotherServesReadWrite() throws Exception {
        String image = "disk=" + dir.resolve("disk.img");
        try (ServerProcess first = server("first", image, "--create", "16M");
             ServerProcess second = server("second", image);
             ServerProcess reader = server("reader", image, "--readonly")) {
            first.start();
            assertThat(second.runToRefusal()).isEqualTo(1);
            assertThat(second.log()).contains("disk.img: in use by another process that holds a lock on it");
            assertThat(reader.runToRefusal()).as("a read-only server of an image another writes").isEqualTo(1);
            // the first server serves on, undisturbed
            assertThat(first.isAlive()).isTrue();
            try (RbdClient c = RbdClient.connect("nbd://127.0.0.1:" + first.port() + "/disk", NO_RECONNECT)) {
                c.write(0, new byte[] {7}).join();
                assertThat(c.read(0, 1).join()).containsExactly(7);
            }
        }
    }

    @Test
    void readOnlyServersShareAnImage() throws Exception {
        String image = "disk=" + dir.resolve("disk.img");
        try (ServerProcess writer = server("create", image, "--create", "16M")) {
            writer.start();
            assertThat(writer.stop()).isEqualTo(ServerProcess.TERMINATED);
        }
        try (ServerProcess one = server("one", image, "--readonly");
             ServerProcess two = server("two", image, "--readonly");
             ServerProcess writer = server("writer", image)) {
            one.start();
            two.start();
            assertThat(writer.runToRefusal()).as("a writer while others read").isEqualTo(1);
            assertThat(writer.log()).contains("in use by another process");
        }
    }

    @Test
    void aLiveUnixSocketIsRefusedAndAStaleOneReplaced() throws Exception {
        Path sock = dir.resolve("rbd.sock");
        String image = "disk=" + dir.resolve("disk.img");
        try (ServerProcess first = server("first", image, "--create", "16M", "--unix", sock.toString());
             ServerProcess second = server("second", "other=" + dir.resolve("other.img"), "--create", "16M",
                     "--unix", sock.toString())) {
            first.start();
            await().atMost(Duration.ofSeconds(10)).until(() -> answers(sock));
            assertThat(second.runToRefusal()).isEqualTo(1);
            assertThat(second.log()).contains("rbd.sock: a server is listening there already");
            assertThat(answers(sock)).as("the first server's socket is still there and answers").isTrue();

            first.kill(); // SIGKILL: no shutdown hook, the socket file stays behind
            assertThat(sock).exists();
            assertThat(answers(sock)).isFalse();
            second.start(); // returns once its TCP port accepts; the Unix listener may come a moment later
            await("the stale socket is replaced by the second server's").atMost(Duration.ofSeconds(10))
                    .until(() -> answers(sock));
            assertThat(second.stop()).isEqualTo(ServerProcess.TERMINATED);
            assertThat(sock).as("a server removes its own socket when it stops").doesNotExist();
        }
    }

    @Test
    void aFileThatIsNotASocketIsNeverReplaced() throws Exception {
        Path notASocket = dir.resolve("notes.txt");
        Files.writeString(notASocket, "keep me");
        try (ServerProcess server = server("server", "disk=" + dir.resolve("disk.img"), "--create", "16M",
                "--unix", notASocket.toString())) {
            assertThat(server.runToRefusal()).isEqualTo(1);
            assertThat(server.log()).contains("notes.txt: exists and is not a socket; not replacing it");
        }
        assertThat(notASocket).hasContent("keep me");
    }

    private static boolean answers(Path sock) throws IOException {
        if (!Files.exists(sock)) {
            return false;
        }
        try (SocketChannel probe = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            probe.connect(UnixDomainSocketAddress.of(sock));
            return true;
        } catch (ConnectException refused) {
            return false;
        }
    }
}
