package dev.rbd.cli.hostile;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.rbd.protocol.NbdCommand;
import dev.rbd.protocol.NbdReplyType;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 11, finding 3: the server took any number of connections, kept idle ones forever (even one with a
 * half-sent 32 MiB WRITE, or one not reading a 32 MiB reply, which held the writer lock), and took any number of
 * options per handshake. Now {@code --max-connections}, {@code --max-connections-per-address},
 * {@code --idle-timeout} and {@code --stall-timeout} bound them, and the 65th option of a handshake is refused.
 */
class ConnectionLimitsTest {
    private static final int MIB = 1 << 20;
    private static final String AT_LIMIT = "rbd-server is at its limit";
    /** Answered by every NBD server with ERR_UNSUP: an option that costs the server nothing but counts. */
    private static final int UNKNOWN_OPTION = 0x4242;

    @TempDir
    Path dir;

    private final List<RawNbd> held = new ArrayList<>();

    @AfterEach
    void closeHeld() throws IOException {
        for (RawNbd c : held) {
            c.close();
        }
    }

    private ServerUnderTest server(String... more) throws Exception {
        List<String> args = new ArrayList<>(List.of("disk=" + dir.resolve("disk.img"), "--create", "64M",
                "--max-connections", "20", "--max-connections-per-address", "8"));
        args.addAll(List.of(more));
        return ServerUnderTest.export(dir, "server", args.toArray(String[]::new)).start();
    }

    /** A connection from {@code address} that has greeted and had one option answered: admitted, and holding. */
    private RawNbd hold(ServerUnderTest server, String address) throws IOException {
        RawNbd c = new RawNbd(server.port(), address);
        held.add(c);
        c.greet();
        assertThat(c.option(UNKNOWN_OPTION, new byte[0]).get(0).type())
                .as("connection %d from %s", held.size(), address).isEqualTo(NbdReplyType.ERR_UNSUP.code());
        return c;
    }

    /** A connection beyond a limit gets ERR_POLICY saying so on its first option, or is closed. */
    private static void assertRefused(ServerUnderTest server, String address) throws IOException {
        try (RawNbd c = new RawNbd(server.port(), address)) {
            RawNbd.OptReply r;
            try {
                c.greet();
                r = c.option(UNKNOWN_OPTION, new byte[0]).get(0);
            } catch (IOException closed) {
                return; // closed at once: refused
            }
            assertThat(r.type()).as("first option beyond the limit, from %s", address)
                    .isEqualTo(NbdReplyType.ERR_POLICY.code());
            assertThat(r.text()).contains(AT_LIMIT);
            assertThat(c.closedByServer()).isTrue();
        }
    }

    @Test
    void oneAddressHoldsAtMostItsShareAndOthersStillGetIn() throws Exception {
        try (ServerUnderTest server = server()) {
            for (int i = 0; i < 8; i++) {
                hold(server, "127.0.0.3");
            }
            assertRefused(server, "127.0.0.3");
            try (RawNbd legitimate = new RawNbd(server.port(), "127.0.0.2")) {
                legitimate.greet();
                assertThat(legitimate.go("disk").type()).as("a client from another address")
                        .isEqualTo(NbdReplyType.ACK.code());
            }
            server.assertHealthy();
        }
    }

    @Test
    void theServerHoldsAtMostMaxConnections() throws Exception {
        try (ServerUnderTest server = server()) {
            for (int i = 0; i < 20; i++) {
                hold(server, "127.0.0." + (3 + i / 8));
            }
            assertRefused(server, "127.0.0.9");
            held.remove(0).close();
            await("a place freed is taken").atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(100))
                    .untilAsserted(() -> hold(server, "127.0.0.9"));
            server.assertHealthy();
        }
    }

    @Test
    void idleConnectionsAreClosedEvenWithAHalfSentWrite() throws Exception {
        try (ServerUnderTest server = server("--idle-timeout", "2s")) {
            RawNbd idle = new RawNbd(server.port(), "127.0.0.1").open("disk", false);
            held.add(idle);
            RawNbd halfWrite = new RawNbd(server.port(), "127.0.0.1").open("disk", false);
            held.add(halfWrite);
            halfWrite.out.writeInt(dev.rbd.protocol.NbdConstants.REQUEST_MAGIC);
            halfWrite.out.writeShort(0);
            halfWrite.out.writeShort(NbdCommand.WRITE.code());
            halfWrite.out.writeLong(1);
            halfWrite.out.writeLong(0);
            halfWrite.out.writeInt(32 * MIB);
            halfWrite.out.write(new byte[MIB]); // of 32 MiB
            halfWrite.out.flush();
            idle.socket.setSoTimeout(30_000);
            halfWrite.socket.setSoTimeout(30_000);
            assertThat(idle.closedByServer()).as("an idle connection is closed").isTrue();
            assertThat(halfWrite.closedByServer()).as("a half-sent WRITE counts as idle").isTrue();
            await("the writer lock is free").atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(100))
                    .until(() -> goes(server, "127.0.0.2"));
            server.assertHealthy();
        }
    }

    @Test
    void aConnectionNotReadingItsReplyIsClosedAndItsWriterLockFreed() throws Exception {
        try (ServerUnderTest server = server("--stall-timeout", "2s")) {
            RawNbd stalled = new RawNbd(server.port(), "127.0.0.3", 16 * 1024).open("disk", false);
            held.add(stalled);
            stalled.request(0, NbdCommand.READ.code(), 1, 0, 32 * MIB, null);
            assertThat(goes(server, "127.0.0.2")).as("the stalled client holds the writer lock").isFalse();
            await("the stalled connection closed and its writer lock freed").atMost(Duration.ofSeconds(30))
                    .pollInterval(Duration.ofMillis(200)).until(() -> goes(server, "127.0.0.2"));
            server.assertHealthy();
        }
    }

    @Test
    void the65thOptionOfAHandshakeIsRefusedAndTheConnectionClosed() throws Exception {
        try (ServerUnderTest server = server(); RawNbd c = new RawNbd(server.port(), "127.0.0.1")) {
            c.greet();
            for (int i = 1; i <= 64; i++) {
                assertThat(c.option(UNKNOWN_OPTION, new byte[0]).get(0).type()).as("option %d", i)
                        .isEqualTo(NbdReplyType.ERR_UNSUP.code());
            }
            assertThat(c.option(UNKNOWN_OPTION, new byte[0]).get(0).type()).as("option 65")
                    .isEqualTo(NbdReplyType.ERR_POLICY.code());
            assertThat(c.closedByServer()).isTrue();
            server.assertHealthy();
        }
    }

    /** A new client from {@code address} gets the export read-write. */
    private static boolean goes(ServerUnderTest server, String address) throws IOException {
        try (RawNbd c = new RawNbd(server.port(), address)) {
            c.greet();
            return c.go("disk").type() == NbdReplyType.ACK.code();
        }
    }
}
