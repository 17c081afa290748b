package dev.rbd.server.handshake;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.rbd.protocol.NbdCommand;
import dev.rbd.protocol.NbdConstants;
import dev.rbd.protocol.NbdError;
import dev.rbd.protocol.NbdReplyType;
import dev.rbd.protocol.RbdSession;
import dev.rbd.server.RawNbdClient;
import dev.rbd.server.RawNbdClient.OptReply;
import dev.rbd.server.RbdServer;
import dev.rbd.server.TestServers;
import dev.rbd.server.export.Export;
import dev.rbd.server.store.MemoryBlockStore;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import java.io.IOException;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * rbd's READ_ONLY_INTENT session flag: such a connection is admitted without the writer lock (so it gets in while
 * another client writes, and keeps nobody out), is flagged read-only, and has its writes refused with EPERM.
 */
class ReadOnlyIntentTest {
    private RbdServer server;

    @AfterEach
    void stop() {
        if (server != null) {
            server.close();
        }
    }

    private static List<OptReply> session(RawNbdClient c, UUID id, int flags) throws IOException {
        ByteBuf b = new RbdSession.Request(id, 0, 1, "disk", flags).encode();
        try {
            return c.option(RbdSession.OPTION, ByteBufUtil.getBytes(b));
        } finally {
            b.release();
        }
    }

    @Test
    void readOnlyIntentTakesNoWriterLockIsFlaggedReadOnlyAndWritesGetEperm() throws Exception {
        MemoryBlockStore store = new MemoryBlockStore(1 << 20);
        Export disk = TestServers.export("disk", store, false);
        server = TestServers.start(disk);
        try (RawNbdClient writer = new RawNbdClient(server.port(), "127.0.0.1").greet();
             RawNbdClient reader = new RawNbdClient(server.port(), "127.0.0.2").greet()) {
            assertThat(session(writer, UUID.randomUUID(), 0).get(1).type()).isEqualTo(NbdReplyType.ACK.code());
            assertThat(writer.go("disk").type()).isEqualTo(NbdReplyType.ACK.code());
            String owner = disk.writerLock().owner();
            assertThat(owner).startsWith("session ");
            assertThat(writer.transmissionFlags & NbdConstants.FLAG_READ_ONLY).isZero();
            byte[] data = new byte[4096];
            Arrays.fill(data, (byte) 7);
            writer.request(0, NbdCommand.WRITE.code(), 1, 0, 4096, data);
            assertThat(writer.readReply(0).error()).isZero();

            List<OptReply> answer = session(reader, UUID.randomUUID(), RbdSession.READ_ONLY_INTENT);
            assertThat(answer.get(0).type()).isEqualTo(RbdSession.REPLY);
            assertThat(reader.go("disk").type()).as("admitted while another client writes")
                    .isEqualTo(NbdReplyType.ACK.code());
            assertThat(disk.writerLock().owner()).as("the lock is not claimed").isEqualTo(owner);
            assertThat(reader.transmissionFlags & NbdConstants.FLAG_READ_ONLY).isNotZero();
            assertThat(reader.transmissionFlags & ~NbdConstants.FLAG_READ_ONLY).as("the export's own flags, unchanged")
                    .isEqualTo(writer.transmissionFlags);

            reader.request(0, NbdCommand.READ.code(), 2, 0, 4096, null);
            assertThat(reader.readReply(4096).data()).isEqualTo(data);
            reader.request(0, NbdCommand.WRITE.code(), 3, 4096, 4096, new byte[4096]);
            assertThat(reader.readReply(0).error()).isEqualTo(NbdError.EPERM.code());
            reader.request(0, NbdCommand.WRITE_ZEROES.code(), 4, 0, 4096, null);
            assertThat(reader.readReply(0).error()).isEqualTo(NbdError.EPERM.code());
            reader.request(0, NbdCommand.TRIM.code(), 5, 0, 4096, null);
            assertThat(reader.readReply(0).error()).isEqualTo(NbdError.EPERM.code());
            reader.request(0, NbdCommand.READ.code(), 6, 0, 4096, null);
            assertThat(reader.readReply(4096).data()).as("nothing was changed").isEqualTo(data);
        }
    }

    @Test
    void aReaderLeavingWithoutDiscHoldsNothingAndTheWriterKeepsTheLock() throws Exception {
        Export disk = TestServers.export("disk", new MemoryBlockStore(1 << 20), false);
        server = TestServers.start(disk);
        RawNbdClient reader = new RawNbdClient(server.port(), "127.0.0.2").greet();
        session(reader, UUID.randomUUID(), RbdSession.READ_ONLY_INTENT);
        assertThat(reader.go("disk").type()).isEqualTo(NbdReplyType.ACK.code());
        assertThat(disk.writerLock().owner()).isNull();
        reader.socket.setSoLinger(true, 0);
        reader.close(); // no DISC: a writing session would be held for its reconnect
        try (RawNbdClient writer = new RawNbdClient(server.port(), "127.0.0.3").greet()) {
            assertThat(writer.go("disk").type()).isEqualTo(NbdReplyType.ACK.code());
            String owner = disk.writerLock().owner();
            assertThat(owner).isNotNull();
            writer.request(0, NbdCommand.DISC.code(), 9, 0, 0, null);
            writer.socket.setSoTimeout(2000);
            assertThat(writer.closedByServer()).isTrue();
        }
        await().atMost(Duration.ofSeconds(5)).until(() -> disk.writerLock().owner() == null);
    }
}
