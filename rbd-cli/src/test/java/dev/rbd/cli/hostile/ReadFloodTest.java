package dev.rbd.cli.hostile;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.rbd.protocol.NbdCommand;
import dev.rbd.protocol.NbdReplyType;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 11, finding 1: a client pipelines 100 READs of 32 MiB and never reads the replies. The server must bound
 * what it queues for that connection (no out-of-memory error, no dead thread), go on serving everyone else, and
 * release the writer lock once the flooder is gone.
 */
class ReadFloodTest {
    private static final int MIB = 1 << 20;
    private static final int READ = 32 * MIB;

    @TempDir
    Path dir;

    @Test
    void aClientThatNeverReadsItsRepliesSlowsOnlyItself() throws Exception {
        try (ServerUnderTest server = ServerUnderTest.export(dir, "server", "disk=" + dir.resolve("disk.img"),
                "--create", "64M").start()) {
            try (RawNbd flooder = new RawNbd(server.port(), "127.0.0.1", 16 * 1024).open("disk", false)) {
                for (int i = 0; i < 100; i++) {
                    flooder.request(0, NbdCommand.READ.code(), i, (long) (i % 2) * READ, READ, null);
                }
                // a well-behaved connection of the same client is answered in full
                try (RawNbd good = new RawNbd(server.port(), "127.0.0.1").open("disk", false)) {
                    good.socket.setSoTimeout(60_000);
                    good.request(0, NbdCommand.READ.code(), 7, 0, READ, null);
                    RawNbd.Reply r = good.readReply(READ);
                    assertThat(r.cookie()).isEqualTo(7);
                    assertThat(r.error()).isZero();
                    assertThat(r.data()).hasSize(READ);
                }
                // and a new client completes its handshake
                try (RawNbd newcomer = new RawNbd(server.port(), "127.0.0.1")) {
                    newcomer.greet();
                    assertThat(newcomer.go("disk").type()).isEqualTo(NbdReplyType.ACK.code());
                    assertThat(newcomer.size).isEqualTo(64L * MIB);
                }
                server.assertHealthy();
            } // the flooder leaves with its replies unread
            await("the writer lock is free once the flooder is gone").atMost(Duration.ofSeconds(30))
                    .pollInterval(Duration.ofMillis(200)).until(() -> {
                        try (RawNbd writer = new RawNbd(server.port(), "127.0.0.2")) {
                            writer.greet();
                            return writer.go("disk").type() == NbdReplyType.ACK.code();
                        }
                    });
            server.assertHealthy();
            assertThat(server.log()).doesNotContain("OutOfMemoryError");
        }
    }
}
