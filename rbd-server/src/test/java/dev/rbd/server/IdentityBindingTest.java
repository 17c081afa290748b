package dev.rbd.server;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rbd.protocol.NbdCommand;
import dev.rbd.protocol.NbdReplyType;
import dev.rbd.protocol.RbdSession;
import dev.rbd.server.RawNbdClient.OptReply;
import dev.rbd.server.export.Export;
import dev.rbd.server.export.SessionTag;
import dev.rbd.server.store.MemoryBlockStore;
import java.io.IOException;
import java.util.Arrays;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * With TLS client certificates, the writer lock and rbd sessions belong to the certificate's identity (its subject
 * CN, set here on the server's side of each connection as the TLS handshake sets it): one CN is one client wherever it
 * connects from, another CN (or none) is another client, and a session registered by one identity cannot be taken
 * over, or learnt about, by another.
 */
class IdentityBindingTest {
    private RbdServer server;
    private Export disk;

    @BeforeEach
    void start() throws Exception {
        disk = Export.builder("disk", new MemoryBlockStore(1 << 20)).description("disk for tests").build();
        server = TestServers.start(disk);
    }

    @AfterEach
    void stop() {
        server.close();
    }

    private RawNbdClient connect(String from, String identity) throws IOException {
        RawNbdClient c = new RawNbdClient(server.port(), from).greet();
        if (identity != null) {
            TestServers.serverSide(server, c).identity(identity);
        }
        return c;
    }

    private static List<OptReply> session(RawNbdClient c, UUID id, long epoch) throws IOException {
        return c.option(RbdSession.OPTION, ExportAccessTest.sessionData(id, 0, epoch, "disk"));
    }

    private static void writeAndReadBack(RawNbdClient c, long cookie, int seed) throws IOException {
        byte[] block = new byte[4096];
        Arrays.fill(block, (byte) seed);
        c.request(0, NbdCommand.WRITE.code(), cookie, 0, 4096, block);
        assertThat(c.readReply(0).error()).as("write").isZero();
        c.request(0, NbdCommand.READ.code(), cookie + 1, 0, 4096, null);
        RawNbdClient.Reply r = c.readReply(4096);
        assertThat(r.error()).as("read").isZero();
        assertThat(r.data()).isEqualTo(block);
    }

    @Test
    void aSessionOfOneIdentityIsRefusedToAnotherAndItsHolderIsUnharmed() throws Exception {
        UUID id = UUID.randomUUID();
        try (RawNbdClient holder = connect("127.0.0.1", "host-a")) {
            assertThat(session(holder, id, 1)).last().extracting(OptReply::type).isEqualTo(NbdReplyType.ACK.code());
            assertThat(holder.go("disk").type()).isEqualTo(NbdReplyType.ACK.code());
            writeAndReadBack(holder, 1, 1);

            // the same session id, a newer epoch: from another identity, from none, from the holder's own address
            String[][] others = {{"127.0.0.2", "host-b"}, {"127.0.0.1", "host-b"}, {"127.0.0.1", null},
                {"127.0.0.2", "HOST-A"}};
            long epoch = 2;
            for (String[] other : others) {
                try (RawNbdClient intruder = connect(other[0], other[1])) {
                    List<OptReply> r = session(intruder, id, epoch++);
                    assertThat(r).as("%s", Arrays.toString(other)).hasSize(1);
                    assertThat(r.get(0).type()).isEqualTo(NbdReplyType.ERR_POLICY.code());
                    assertThat(r.get(0).text()).contains("another client").doesNotContain(id.toString(),
                            SessionTag.of(id), "epoch", "slot");
                    assertThat(intruder.go("disk").type()).as("nor does it get the writer lock")
                            .isEqualTo(NbdReplyType.ERR_POLICY.code());
                }
                writeAndReadBack(holder, 10 * epoch, (int) epoch);
            }
            assertThat(disk.writerLock().owner()).isEqualTo("session " + id + " cn:host-a");

            // its own identity, from elsewhere, may take its session over (a reconnect)
            try (RawNbdClient again = connect("127.0.0.2", "host-a")) {
                assertThat(session(again, id, epoch)).last().extracting(OptReply::type)
                        .isEqualTo(NbdReplyType.ACK.code());
                assertThat(again.go("disk").type()).isEqualTo(NbdReplyType.ACK.code());
                writeAndReadBack(again, 100, 7);
                assertThat(holder.closedByServer()).as("the old connection is fenced").isTrue();
            }
        }
    }

    @Test
    void connectionsWithOneIdentityShareTheWriterLockFromAnyAddress() throws Exception {
        try (RawNbdClient first = connect("127.0.0.1", "host42");
             RawNbdClient second = connect("127.0.0.2", "host42")) {
            assertThat(first.go("disk").type()).isEqualTo(NbdReplyType.ACK.code());
            assertThat(second.go("disk").type()).as("same CN, another address: the same client")
                    .isEqualTo(NbdReplyType.ACK.code());
            assertThat(disk.writerLock().owner()).isEqualTo("cn:host42");
            writeAndReadBack(first, 1, 1);
            writeAndReadBack(second, 3, 2);
            for (String other : new String[] {"host43", "Host42", null}) {
                try (RawNbdClient c = connect("127.0.0.1", other)) {
                    OptReply r = c.go("disk");
                    assertThat(r.type()).as("%s while cn:host42 holds the lock", other)
                            .isEqualTo(NbdReplyType.ERR_POLICY.code());
                    assertThat(r.text()).contains("in use read-write by cn:host42");
                }
            }
        }
    }

    @Test
    void withoutIdentitiesTheAddressIsTheClientAsBefore() throws Exception {
        try (RawNbdClient first = connect("127.0.0.1", null);
             RawNbdClient second = connect("127.0.0.1", null);
             RawNbdClient elsewhere = connect("127.0.0.2", null)) {
            assertThat(first.go("disk").type()).isEqualTo(NbdReplyType.ACK.code());
            assertThat(second.go("disk").type()).isEqualTo(NbdReplyType.ACK.code());
            assertThat(disk.writerLock().owner()).isEqualTo("127.0.0.1");
            assertThat(elsewhere.go("disk").type()).isEqualTo(NbdReplyType.ERR_POLICY.code());
        }
    }
}
