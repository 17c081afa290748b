package dev.rbd.server.transmission;

import static dev.rbd.protocol.NbdConstants.REQUEST_MAGIC;
import static org.assertj.core.api.Assertions.assertThat;

import dev.rbd.protocol.NbdCommand;
import dev.rbd.protocol.NbdError;
import dev.rbd.protocol.codec.RequestDecoder;
import dev.rbd.server.Await;
import dev.rbd.server.RawNbdClient;
import dev.rbd.server.RawNbdClient.Reply;
import dev.rbd.server.RbdServer;
import dev.rbd.server.TestServers;
import dev.rbd.server.export.Export;
import dev.rbd.server.export.ServerConfig;
import dev.rbd.server.store.MemoryBlockStore;
import io.netty.buffer.ByteBuf;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Clients that misbehave, over a real socket: one that pipelines huge reads and never reads the replies, ones that
 * stop half-way through huge writes. The server's memory stays bounded, and well-behaved clients are served.
 */
class MemoryBoundsTest {
    private static final int READ = NbdCommand.READ.code();
    private static final int WRITE = NbdCommand.WRITE.code();
    private static final long LIMIT = 8L << 20;
    private static final int HUGE = 32 << 20;

    private final List<AutoCloseable> open = new ArrayList<>();
    private RbdServer server;

    @AfterEach
    void stop() throws Exception {
        for (AutoCloseable c : open) {
            c.close();
        }
        if (server != null) {
            server.close();
        }
    }

    private RbdServer start(Export... exports) throws Exception {
        server = TestServers.start(ServerConfig.defaults(List.of(new InetSocketAddress("127.0.0.1", 0)))
                .withHandshakeTimeout(Duration.ofSeconds(5)).withMaxInFlightBytes(LIMIT), exports);
        return server;
    }

    private RawNbdClient client(boolean structured) throws Exception {
        RawNbdClient c = new RawNbdClient(server.port());
        open.add(c);
        c.socket.setSoTimeout(30_000);
        return c.open("disk", structured);
    }

    @Test
    void aClientThatNeverReadsItsRepliesHoldsBoundedMemoryAndOthersAreServed() throws Exception {
        start(Export.builder("disk", new MemoryBlockStore(1L << 30)).description("sparse").build());
        RawNbdClient flood = client(false);
        flood.socket.setReceiveBufferSize(64 << 10);
        for (int i = 0; i < 100; i++) {
            flood.request(0, READ, i, 0, HUGE, null);
        }
        long bound = LIMIT + 2 * Backpressure.RESERVE;
        // the flood's replies fill the socket buffers and then stop: its bytes stop growing
        Await.until("the flood to fill its share", () -> server.context().memory().used() > 0);

        RawNbdClient good = client(true);
        good.request(0, READ, 7, 0, HUGE, null);
        long got = 0;
        long peak = 0;
        while (true) {
            Reply r = good.readReply(0);
            peak = Math.max(peak, server.context().memory().used());
            assertThat(r.cookie()).isEqualTo(7);
            assertThat(r.error()).isZero();
            if (r.data().length > 8) {
                got += r.data().length - 8; // OFFSET_DATA: offset, then data
            }
            if ((r.flags() & 1) != 0) {
                break;
            }
        }
        assertThat(got).as("the well-behaved client's 32 MiB read is answered whole").isEqualTo(HUGE);
        assertThat(peak).as("bytes held by all connections").isLessThanOrEqualTo(bound);

        RawNbdClient late = client(false);
        late.request(0, READ, 1, 4096, 4096, null);
        assertThat(late.readReply(4096).error()).as("a new client gets in and is served").isZero();
        late.close();

        flood.close();
        good.close();
        Await.until("every byte released once the clients are gone", () -> server.context().memory().used() == 0);
        RawNbdClient writer = client(false);
        writer.request(0, WRITE, 2, 0, 4, new byte[] {1, 2, 3, 4});
        assertThat(writer.readReply(0).error()).as("the writer lock was released").isZero();
    }

    @Test
    void clientsStoppingHalfWayThroughHugeWritesHoldOnePartEachAtMost() throws Exception {
        start(Export.builder("disk", new MemoryBlockStore(1L << 30)).description("sparse").shared(true).build());
        long before = server.context().memory().used();
        List<RawNbdClient> stalled = new ArrayList<>();
        for (int i = 0; i < 16; i++) {
            RawNbdClient c = client(false);
            stalled.add(c);
            c.out.writeInt(REQUEST_MAGIC);
            c.out.writeShort(0);
            c.out.writeShort(WRITE);
            c.out.writeLong(i);
            c.out.writeLong((long) i * HUGE);
            c.out.writeInt(HUGE);
            c.out.write(new byte[5 << 20]); // two parts and a bit of a third
            c.out.flush();
        }
        // the two whole parts of every write are stored and released; what is left is each write's header (64) and at
        // most a part being filled, which the decoder holds outside the budget: not 16 x 32 MiB
        Await.until("the whole parts to be stored", () -> server.context().memory().used() == before + 16 * 64);
        // and the writes complete once their clients send the rest
        for (int i = 0; i < 16; i++) {
            RawNbdClient c = stalled.get(i);
            c.out.write(new byte[HUGE - (5 << 20)]);
            c.out.flush();
            Reply r = c.readReply(0);
            assertThat(r.cookie()).isEqualTo(i);
            assertThat(r.error()).isZero();
        }
    }

    @Test
    void anOutOfMemoryErrorInAnIoThreadIsAnsweredAndTheThreadLivesOn() throws Exception {
        Set<Thread> threads = ConcurrentHashMap.newKeySet();
        AtomicInteger failures = new AtomicInteger(1);
        MemoryBlockStore store = new MemoryBlockStore(64 << 20) {
            @Override
            public void read(long offset, ByteBuf dst, int length) {
                threads.add(Thread.currentThread());
                if (failures.getAndDecrement() > 0) {
                    throw new OutOfMemoryError("Cannot reserve 33554432 bytes of direct buffer memory");
                }
                super.read(offset, dst, length);
            }
        };
        server = TestServers.start(ServerConfig.defaults(List.of(new InetSocketAddress("127.0.0.1", 0)))
                .withIoThreads(1), Export.builder("disk", store).description("failing").build());
        RawNbdClient c = client(false);
        int big = RequestDecoder.FILL_LIMIT; // beyond the event loop's inline reads: an I/O thread does it
        c.request(0, READ, 1, 0, big, null);
        Reply r = c.readReply(big);
        assertThat(r.error()).isEqualTo(NbdError.ENOMEM.code());
        c.request(0, READ, 2, 0, big, null);
        assertThat(c.readReply(big).error()).isZero();
        assertThat(threads).as("the same I/O thread served both reads").hasSize(1);
    }
}
