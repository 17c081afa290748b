package dev.rbd.server.handshake;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.rbd.protocol.NbdReplyType;
import dev.rbd.server.RawNbdClient;
import dev.rbd.server.RawNbdClient.OptReply;
import dev.rbd.server.RbdServer;
import dev.rbd.server.TestServers;
import dev.rbd.server.export.Export;
import dev.rbd.server.store.MemoryBlockStore;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** One writer per read-write export (by source address), any number of connections; readers are unlimited. */
class WriterPolicyTest {
    @Test
    void ownerMayOpenManyConnectionsOthersAreRefusedUntilItLeaves() throws Exception {
        Export disk = TestServers.export("disk", new MemoryBlockStore(1 << 20), false);
        RbdServer server = TestServers.start(disk);
        try (RawNbdClient a1 = new RawNbdClient(server.port(), "127.0.0.1").open("disk", true);
             RawNbdClient a2 = new RawNbdClient(server.port(), "127.0.0.1").open("disk", false)) {
            RawNbdClient b = new RawNbdClient(server.port(), "127.0.0.2").greet();
            OptReply refused = b.go("disk");
            assertThat(refused.type()).isEqualTo(NbdReplyType.ERR_POLICY.code());
            assertThat(refused.text()).contains("in use read-write by 127.0.0.1").contains("--shared");
            a1.close();
            // still owned through a2
            assertThat(b.go("disk").type()).isEqualTo(NbdReplyType.ERR_POLICY.code());
            a2.close();
            await().atMost(Duration.ofSeconds(5)).until(() -> disk.writerLock().owner() == null);
            assertThat(b.go("disk").type()).isEqualTo(NbdReplyType.ACK.code());
            b.close();
        } finally {
            server.close();
        }
    }

    @Test
    void readOnlyExportTakesAnyNumberOfClients() throws Exception {
        RbdServer server = TestServers.start(TestServers.export("usr", new MemoryBlockStore(1 << 20), true));
        try (RawNbdClient a = new RawNbdClient(server.port(), "127.0.0.1").open("usr", true);
             RawNbdClient b = new RawNbdClient(server.port(), "127.0.0.2").open("usr", true);
             RawNbdClient c = new RawNbdClient(server.port(), "127.0.0.3").open("usr", false)) {
            assertThat(a.size).isEqualTo(b.size).isEqualTo(c.size).isEqualTo(1 << 20);
        } finally {
            server.close();
        }
    }

    @Test
    void sharedExportTakesSeveralWriters() throws Exception {
        Export shared = Export.builder("disk", new MemoryBlockStore(1 << 20)).description("d").shared(true).build();
        RbdServer server = TestServers.start(shared);
        try (RawNbdClient a = new RawNbdClient(server.port(), "127.0.0.1").open("disk", true);
             RawNbdClient b = new RawNbdClient(server.port(), "127.0.0.2").open("disk", true)) {
            assertThat(a.size).isEqualTo(b.size);
        } finally {
            server.close();
        }
    }

    @Test
    void infoDoesNotClaimTheExport() throws Exception {
        Export disk = TestServers.export("disk", new MemoryBlockStore(1 << 20), false);
        RbdServer server = TestServers.start(disk);
        try (RawNbdClient a = new RawNbdClient(server.port(), "127.0.0.1").greet()) {
            assertThat(a.option(dev.rbd.protocol.NbdOption.INFO.code(), RawNbdClient.infoData("disk")))
                    .last().extracting(OptReply::type).isEqualTo(NbdReplyType.ACK.code());
            assertThat(disk.writerLock().owner()).isNull();
        } finally {
            server.close();
        }
    }
}
