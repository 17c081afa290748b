package dev.rbd.server.transmission;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.rbd.protocol.NbdCommand;
import dev.rbd.protocol.NbdConstants;
import dev.rbd.server.RawNbdClient;
import dev.rbd.server.RawNbdClient.Reply;
import dev.rbd.server.RbdServer;
import dev.rbd.server.TestServers;
import dev.rbd.server.export.Export;
import dev.rbd.server.export.Limits;
import dev.rbd.server.export.ServerConfig;
import dev.rbd.server.store.MemoryBlockStore;
import io.netty.buffer.ByteBuf;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** --idle-timeout and --stall-timeout over a real socket: who is closed, who is not, and what a close releases. */
class ConnectionTimeoutsTest {
    private static final int READ = NbdCommand.READ.code();
    private static final int WRITE = NbdCommand.WRITE.code();
    private static final Duration SHORT = Duration.ofMillis(300);
    private static final Duration AWAIT = Duration.ofSeconds(20);

    private final List<RawNbdClient> clients = new ArrayList<>();
    private RbdServer server;
    private Export disk;

    @AfterEach
    void stop() throws Exception {
        for (RawNbdClient c : clients) {
            c.close();
        }
        if (server != null) {
            server.close();
        }
    }

    private void start(Duration idle, Duration stall, long maxInFlightBytes, MemoryBlockStore store)
            throws Exception {
        disk = Export.builder("disk", store).description("d").build();
        server = TestServers.start(ServerConfig.defaults(List.of(new InetSocketAddress("127.0.0.1", 0)))
                .withHandshakeTimeout(Duration.ofSeconds(5)).withMaxInFlightBytes(maxInFlightBytes)
                .withLimits(Limits.DEFAULT.withTimeouts(idle, stall)), disk);
    }

    private void start(Duration idle, Duration stall) throws Exception {
        start(idle, stall, 64L << 20, new MemoryBlockStore(1L << 30));
    }

    private RawNbdClient client() throws Exception {
        RawNbdClient c = new RawNbdClient(server.port());
        clients.add(c);
        c.socket.setSoTimeout((int) AWAIT.toMillis());
        return c.open("disk", false);
    }

    private static void header(RawNbdClient c, int type, long cookie, long length) throws Exception {
        c.out.writeInt(NbdConstants.REQUEST_MAGIC);
        c.out.writeShort(0);
        c.out.writeShort(type);
        c.out.writeLong(cookie);
        c.out.writeLong(0);
        c.out.writeInt((int) length);
        c.out.flush();
    }

    @Test
    void idleTimeoutClosesAnIdleConnectionAndReleasesTheWriterLock() throws Exception {
        start(SHORT, Duration.ZERO);
        RawNbdClient idle = client();
        assertThat(disk.writerLock().owner()).isNotNull();
        assertThat(idle.closedByServer()).isTrue();
        await().atMost(AWAIT).until(() -> disk.writerLock().owner() == null);
    }

    @Test
    void aHalfSentRequestCountsAsIdle() throws Exception {
        start(SHORT, Duration.ZERO);
        RawNbdClient held = client();
        header(held, WRITE, 1, 1 << 20);
        held.out.write(new byte[100 << 10]);
        held.out.flush();
        RawNbdClient streamed = client();
        header(streamed, WRITE, 2, 8 << 20);
        streamed.out.write(new byte[3 << 20]); // one whole 2 MiB part, then silence
        streamed.out.flush();
        assertThat(held.closedByServer()).isTrue();
        assertThat(streamed.closedByServer()).isTrue();
        await().atMost(AWAIT).until(() -> disk.writerLock().owner() == null && server.context().channels().isEmpty());
    }

    @Test
    void idleTimeoutSparesAConnectionThatKeepsSendingRequests() throws Exception {
        Duration idle = Duration.ofSeconds(1);
        start(idle, Duration.ZERO);
        RawNbdClient active = client();
        // requests every fifth of the timeout, for twice the timeout
        for (int i = 0; i < 10; i++) {
            active.request(0, READ, i, 0, 4096, null);
            Reply r = active.readReply(4096);
            assertThat(r.cookie()).isEqualTo(i);
            assertThat(r.error()).isZero();
            TimeUnit.MILLISECONDS.sleep(idle.toMillis() / 5);
        }
        active.request(0, READ, 99, 0, 4096, null);
        assertThat(active.readReply(4096).error()).isZero();
        // and once it stops, it is closed like any idle one
        assertThat(active.closedByServer()).isTrue();
    }

    @Test
    void stallTimeoutClosesAConnectionThatStopsInsideARequest() throws Exception {
        start(Duration.ZERO, SHORT);
        RawNbdClient half = client();
        half.out.write(new byte[] {0x25, 0x60, (byte) 0x95, 0x13, 0, 0}); // part of a header
        half.out.flush();
        RawNbdClient quiet = client();
        assertThat(half.closedByServer()).isTrue();
        // a connection sending nothing at all is not stalled (--idle-timeout is off)
        quiet.request(0, READ, 7, 0, 4096, null);
        assertThat(quiet.readReply(4096).error()).isZero();
    }

    @Test
    void stallTimeoutClosesAConnectionNotReadingABigReplyAndReleasesTheWriterLock() throws Exception {
        start(Duration.ZERO, SHORT);
        RawNbdClient c = client();
        c.socket.setReceiveBufferSize(64 << 10);
        c.request(0, READ, 1, 0, 32 << 20, null); // never read: the socket buffers fill, then nothing moves
        assertThat(disk.writerLock().owner()).isNotNull();
        await().atMost(AWAIT).until(() -> server.context().channels().isEmpty());
        await().atMost(AWAIT).until(() -> disk.writerLock().owner() == null);
        await().atMost(AWAIT).until(() -> server.context().memory().used() == 0);
    }

    @Test
    void readingPausedByTheServerIsNotAStall() throws Exception {
        CountDownLatch gate = new CountDownLatch(1);
        AtomicInteger writesStarted = new AtomicInteger();
        MemoryBlockStore slow = new MemoryBlockStore(64L << 20) {
            @Override
            public void write(long offset, ByteBuf src) {
                writesStarted.incrementAndGet();
                try {
                    gate.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                super.write(offset, src);
            }
        };
        start(Duration.ZERO, SHORT, 4L << 20, slow);
        try {
            RawNbdClient c = client();
            int two = 2 << 20;
            c.request(0, WRITE, 0, 0, two, new byte[two]);
            await().atMost(AWAIT).until(() -> writesStarted.get() == 1); // it holds the disk
            // the second write does not fit beside it, so reading pauses with the third's header partly read: the
            // server is the one not reading, for many times the stall timeout
            c.request(0, WRITE, 1, two, two, new byte[two]);
            c.out.write(new byte[] {0x25, 0x60, (byte) 0x95, 0x13, 0, 0});
            c.out.flush();
            await().atMost(AWAIT).until(() -> !reading());
            TimeUnit.MILLISECONDS.sleep(SHORT.toMillis() * 5);
            assertThat(server.context().channels().size()).isEqualTo(1);
            gate.countDown();
            c.out.writeShort(WRITE);
            c.out.writeLong(2);
            c.out.writeLong(2L * two);
            c.out.writeInt(4096);
            c.out.write(new byte[4096]);
            c.out.flush();
            List<Long> cookies = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                Reply r = c.readReply(0);
                assertThat(r.error()).isZero();
                cookies.add(r.cookie());
            }
            assertThat(cookies).containsExactlyInAnyOrder(0L, 1L, 2L);
        } finally {
            gate.countDown();
        }
    }

    private boolean reading() {
        return server.context().channels().stream().allMatch(ch -> ch.config().isAutoRead());
    }
}
