package dev.rbd.server.handshake;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.rbd.protocol.NbdCommand;
import dev.rbd.protocol.NbdOption;
import dev.rbd.protocol.NbdReplyType;
import dev.rbd.protocol.RbdSession;
import dev.rbd.server.RawNbdClient;
import dev.rbd.server.RawNbdClient.OptReply;
import dev.rbd.server.RbdServer;
import dev.rbd.server.TestServers;
import dev.rbd.server.export.Export;
import dev.rbd.server.export.ServerConfig;
import dev.rbd.server.export.SyncMode;
import dev.rbd.server.store.MemoryBlockStore;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketTimeoutException;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * rbd's session option: a newer epoch fences the slot's older connection (its requests finish or are discarded,
 * its unread bytes are dropped) before the new connection is answered; stale epochs are refused; the session keeps
 * the writer lock across its reconnect.
 */
class FencingTest {
    /** Writes wait at a gate, so a connection can be fenced while its requests run. */
    static final class GatedStore extends MemoryBlockStore {
        final CountDownLatch gate = new CountDownLatch(1);
        final AtomicInteger started = new AtomicInteger();
        final AtomicInteger written = new AtomicInteger();

        GatedStore() {
            super(1 << 20);
        }

        @Override
        public void write(long offset, ByteBuf src) {
            started.incrementAndGet();
            try {
                gate.await(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            super.write(offset, src);
            written.incrementAndGet();
        }
    }

    private RbdServer server;

    @AfterEach
    void stop() {
        if (server != null) {
            server.close();
        }
    }

    private static byte[] sessionData(UUID id, int slot, long epoch, String export) {
        ByteBuf b = new RbdSession.Request(id, slot, epoch, export).encode();
        try {
            return ByteBufUtil.getBytes(b);
        } finally {
            b.release();
        }
    }

    private static List<OptReply> session(RawNbdClient c, UUID id, int slot, long epoch) throws IOException {
        return c.option(RbdSession.OPTION, sessionData(id, slot, epoch, "disk"));
    }

    private static RbdSession.Reply parse(OptReply r) {
        assertThat(r.type()).as("reply type").isEqualTo(RbdSession.REPLY);
        return RbdSession.Reply.decode(Unpooled.wrappedBuffer(r.data()));
    }

    private static byte[] block(int seed) {
        byte[] b = new byte[4096];
        Arrays.fill(b, (byte) seed);
        return b;
    }

    @Test
    void newerEpochWaitsForTheOldConnectionsRequestsThenDropsItsBytes() throws Exception {
        GatedStore store = new GatedStore();
        Export disk = TestServers.export("disk", store, false);
        server = TestServers.start(ServerConfig.defaults(List.of(new InetSocketAddress("127.0.0.1", 0)))
                .withIoThreads(1), disk);
        UUID id = UUID.randomUUID();
        try (RawNbdClient old = new RawNbdClient(server.port(), "127.0.0.1").greet();
             RawNbdClient fresh = new RawNbdClient(server.port(), "127.0.0.2").greet()) {
            List<OptReply> first = session(old, id, 0, 1);
            assertThat(parse(first.get(0)).acksDurable()).isTrue();
            assertThat(first.get(1).type()).isEqualTo(NbdReplyType.ACK.code());
            assertThat(old.go("disk").type()).isEqualTo(NbdReplyType.ACK.code());
            // one write runs (holding the only I/O thread), one waits for a thread, and half a header follows
            old.request(0, NbdCommand.WRITE.code(), 1, 0, 4096, block(1));
            old.request(0, NbdCommand.WRITE.code(), 2, 8192, 4096, block(2));
            await().atMost(Duration.ofSeconds(5)).until(() -> store.started.get() == 1);
            old.out.write(new byte[] {0x25, 0x60, (byte) 0x95});
            old.out.flush();

            fresh.sendOption(RbdSession.OPTION, sessionData(id, 0, 2, "disk"));
            fresh.socket.setSoTimeout(300);
            assertThatThrownBy(fresh::readOptionReply).as("no answer while the old write runs")
                    .isInstanceOf(SocketTimeoutException.class);
            fresh.socket.setSoTimeout(5000);
            store.gate.countDown();
            RbdSession.Reply fenced = parse(fresh.readOptionReply());
            assertThat(fresh.readOptionReply().type()).isEqualTo(NbdReplyType.ACK.code());
            assertThat(fenced.finished()).isEqualTo(1);
            assertThat(fenced.discarded()).isEqualTo(1);
            assertThat(store.written.get()).isEqualTo(1);

            old.socket.setSoTimeout(2000);
            assertThat(old.closedByServer()).isTrue();
            // the same session takes the writer lock from another address, the old write is there, the
            // discarded one is not
            assertThat(fresh.go("disk").type()).isEqualTo(NbdReplyType.ACK.code());
            fresh.request(0, NbdCommand.READ.code(), 7, 0, 12288, null);
            byte[] data = fresh.readReply(12288).data();
            assertThat(Arrays.copyOfRange(data, 0, 4096)).isEqualTo(block(1));
            assertThat(Arrays.copyOfRange(data, 8192, 12288)).containsOnly(0);
        }
    }

    @Test
    void staleOrRepeatedEpochIsRefusedAndMalformedDataIsInvalid() throws Exception {
        server = TestServers.start(TestServers.export("disk", new MemoryBlockStore(1 << 20), false));
        UUID id = UUID.randomUUID();
        try (RawNbdClient a = new RawNbdClient(server.port()).greet();
             RawNbdClient b = new RawNbdClient(server.port()).greet()) {
            assertThat(session(a, id, 3, 5)).last().extracting(OptReply::type).isEqualTo(NbdReplyType.ACK.code());
            for (long epoch : new long[] {5, 4, 0}) {
                OptReply r = session(b, id, 3, epoch).get(0);
                assertThat(r.type()).isEqualTo(NbdReplyType.ERR_POLICY.code());
                assertThat(r.text()).contains("stale");
            }
            // another slot of the same session is independent; an epoch above 2^63 is newer (unsigned)
            assertThat(session(b, id, 4, -1L)).last().extracting(OptReply::type)
                    .isEqualTo(NbdReplyType.ACK.code());
            assertThat(session(b, id, 5, 1).get(0).text()).contains("already sent");
            try (RawNbdClient c = new RawNbdClient(server.port()).greet()) {
                assertThat(c.option(RbdSession.OPTION, new byte[31]).get(0).type())
                        .isEqualTo(NbdReplyType.ERR_INVALID.code());
                assertThat(c.option(RbdSession.OPTION, sessionData(id, 9, 1, "nope")).get(0).type())
                        .isEqualTo(NbdReplyType.ERR_UNKNOWN.code());
                // the connection is still negotiating normally
                assertThat(c.go("disk").type()).isEqualTo(NbdReplyType.ACK.code());
            }
        }
    }

    @Test
    void goMustNameTheSessionsExportAndFlushModeAcksAreNotDurable() throws Exception {
        server = TestServers.start(Export.builder("disk", new MemoryBlockStore(1 << 20)).description("d")
                .syncMode(SyncMode.FLUSH).build(), TestServers.export("other", new MemoryBlockStore(4096), true));
        try (RawNbdClient a = new RawNbdClient(server.port()).greet()) {
            assertThat(parse(session(a, UUID.randomUUID(), 0, 1).get(0)).acksDurable()).isFalse();
            OptReply r = a.go("other");
            assertThat(r.type()).isEqualTo(NbdReplyType.ERR_INVALID.code());
            assertThat(r.text()).contains("'disk'");
            assertThat(a.go("disk").type()).isEqualTo(NbdReplyType.ACK.code());
        }
    }

    @Test
    void sessionKeepsTheWriterLockAcrossItsReconnectOthersStayRefused() throws Exception {
        Export disk = TestServers.export("disk", new MemoryBlockStore(1 << 20), false);
        server = TestServers.start(disk);
        UUID id = UUID.randomUUID();
        RawNbdClient a = new RawNbdClient(server.port(), "127.0.0.1").greet();
        session(a, id, 0, 1);
        assertThat(a.go("disk").type()).isEqualTo(NbdReplyType.ACK.code());
        try (RawNbdClient other = new RawNbdClient(server.port(), "127.0.0.3").greet()) {
            // named by its tag, never by its id: the id is what proves the session
            assertThat(other.go("disk").text()).contains("in use read-write by session #")
                    .doesNotContain(id.toString());
            a.socket.setSoLinger(true, 0);
            a.close(); // lost without DISC
            await().atMost(Duration.ofSeconds(5)).until(() -> other.go("disk").text().contains("held for"));
            try (RawNbdClient b = new RawNbdClient(server.port(), "127.0.0.2").greet()) {
                session(b, id, 0, 2);
                assertThat(b.go("disk").type()).isEqualTo(NbdReplyType.ACK.code());
                assertThat(other.go("disk").type()).isEqualTo(NbdReplyType.ERR_POLICY.code());
                b.request(0, NbdCommand.DISC.code(), 9, 0, 0, null);
                b.socket.setSoTimeout(2000);
                assertThat(b.closedByServer()).isTrue();
            }
            // a clean goodbye releases the lock at once
            await().atMost(Duration.ofSeconds(5)).until(() -> disk.writerLock().owner() == null);
            assertThat(other.go("disk").type()).isEqualTo(NbdReplyType.ACK.code());
        }
    }

    @Test
    void withoutTheOptionTheHandshakeIsUnchanged() throws Exception {
        server = TestServers.start(TestServers.export("disk", new MemoryBlockStore(1 << 20), false));
        try (RawNbdClient a = new RawNbdClient(server.port()).greet()) {
            assertThat(a.option(NbdOption.STRUCTURED_REPLY.code(), new byte[0]).get(0).type())
                    .isEqualTo(NbdReplyType.ACK.code());
            assertThat(a.go("disk").type()).isEqualTo(NbdReplyType.ACK.code());
        }
    }
}
