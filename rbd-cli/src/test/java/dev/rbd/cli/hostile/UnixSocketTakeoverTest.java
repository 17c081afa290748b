package dev.rbd.cli.hostile;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.rbd.protocol.NbdConstants;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 11, finding 4: a second server on the same {@code --unix PATH} silently replaced the first one's socket.
 * Now it is refused while the first is live and the first stays reachable there; a stale socket, left by a server
 * killed with SIGKILL, is replaced.
 */
class UnixSocketTakeoverTest {
    @TempDir
    Path dir;

    @Test
    void aLiveSocketIsRefusedAndAStaleOneReplaced() throws Exception {
        Path sock = dir.resolve("rbd.sock");
        try (ServerUnderTest first = ServerUnderTest.export(dir, "first", "disk=" + dir.resolve("disk.img"),
                "--create", "16M", "--unix", sock.toString()).start();
             ServerUnderTest second = ServerUnderTest.export(dir, "second", "other=" + dir.resolve("other.img"),
                     "--create", "16M", "--unix", sock.toString())) {
            await("the first server's Unix socket").atMost(Duration.ofSeconds(10)).until(() -> greets(sock));

            assertThat(second.runToRefusal()).isEqualTo(1);
            assertThat(second.log()).contains("rbd.sock: a server is listening there already");
            assertThat(greets(sock)).as("the first server still answers NBD on its socket").isTrue();
            first.assertHealthy();

            first.kill(); // SIGKILL: no shutdown hook, the socket file stays behind
            assertThat(sock).exists();
            assertThat(greets(sock)).isFalse();
            second.start();
            await("the stale socket replaced by the second server's").atMost(Duration.ofSeconds(10))
                    .until(() -> greets(sock));
            second.assertHealthy();
        }
    }

    /** A server answers on the socket with the NBD greeting. */
    private static boolean greets(Path sock) throws IOException {
        if (!Files.exists(sock)) {
            return false;
        }
        try (SocketChannel c = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            c.connect(UnixDomainSocketAddress.of(sock));
            ByteBuffer b = ByteBuffer.allocate(8);
            while (b.hasRemaining()) {
                if (c.read(b) < 0) {
                    return false;
                }
            }
            return b.getLong(0) == NbdConstants.NBDMAGIC;
        } catch (IOException refused) {
            return false;
        }
    }
}
