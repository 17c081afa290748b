package dev.rbd.server;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rbd.protocol.NbdCommand;
import dev.rbd.protocol.NbdConstants;
import dev.rbd.protocol.NbdError;
import dev.rbd.protocol.codec.RequestDecoder;
import dev.rbd.server.RawNbdClient.Reply;
import dev.rbd.server.export.BlockSizes;
import dev.rbd.server.export.Export;
import dev.rbd.server.export.ServerConfig;
import dev.rbd.server.store.FileBlockStore;
import io.netty.buffer.PoolArenaMetric;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Requests of up to 64 MiB through the real server with its defaults (as nbdkit accepts; nbd-server's tester sends
 * writes of up to 48 MiB whatever the server advertises): streamed in parts, so the server holds a few parts of one,
 * never the whole; one above the maximum is refused with EINVAL and the connection goes on.
 */
class LargeRequestsTest {
    private static final int READ = NbdCommand.READ.code();
    private static final int WRITE = NbdCommand.WRITE.code();
    private static final int MAX = 64 << 20;
    /** The per-connection limit on bytes in flight, as small as it may be, so what it bounds shows. */
    private static final long IN_FLIGHT = 8L << 20;

    @TempDir
    Path dir;
    private RbdServer server;
    private RawNbdClient client;

    @AfterEach
    void stop() throws Exception {
        if (client != null) {
            client.close();
        }
        if (server != null) {
            server.close();
        }
    }

    private RawNbdClient start(boolean structured) throws Exception {
        Path img = dir.resolve("disk.img");
        FileBlockStore.createSparse(img, 2L * MAX);
        // durable (--sync always) and the default block sizes, as `rbd-server export` without options
        Export export = Export.builder("disk", FileBlockStore.open(img, false)).description("large").build();
        assertThat(export.blockSizes()).isEqualTo(BlockSizes.DEFAULT);
        server = TestServers.start(ServerConfig.defaults(List.of(new InetSocketAddress("127.0.0.1", 0)))
                .withHandshakeTimeout(Duration.ofSeconds(5)).withMaxInFlightBytes(IN_FLIGHT), export);
        client = new RawNbdClient(server.port());
        client.socket.setSoTimeout(60_000);
        return client.open("disk", structured);
    }

    private static byte[] random(int n, long seed) {
        byte[] b = new byte[n];
        new SplittableRandom(seed).nextBytes(b);
        return b;
    }

    /** Buffers above the pool's chunk size (16 MiB) the server's allocator ever handed out. */
    private static long hugeAllocations() {
        long n = 0;
        for (PoolArenaMetric a : RbdServer.ALLOCATOR.metric().directArenas()) {
            n += a.numHugeAllocations();
        }
        return n;
    }

    @Test
    void a64MiBWriteAndReadRoundTripWithTheDefaultsHoldingAFewPartsAtMost() throws Exception {
        RawNbdClient c = start(false);
        byte[] data = random(MAX, 14);
        server.context().memory().resetPeak();
        long hugeBefore = hugeAllocations();
        c.request(NbdConstants.CMD_FLAG_FUA, WRITE, 1, 4096, MAX, data);
        Reply w = c.readReply(0);
        assertThat(w.cookie()).isEqualTo(1);
        assertThat(w.error()).as("a 64 MiB write is taken by default").isZero();
        long writePeak = server.context().memory().peak();

        server.context().memory().resetPeak();
        c.request(0, READ, 2, 4096, MAX, null);
        Reply r = c.readReply(MAX);
        assertThat(r.error()).isZero();
        assertThat(Arrays.equals(r.data(), data)).as("the 64 MiB read gives back what was written").isTrue();
        long readPeak = server.context().memory().peak();

        // the budget counts a streamed write's parts from their arrival until stored: reading pauses past the
        // connection's limit, so it holds the limit and a part or so, not 64 MiB
        long bound = IN_FLIGHT + 2L * RequestDecoder.FILL_LIMIT;
        assertThat(writePeak).as("bytes held while the 64 MiB write streamed").isPositive()
                .isLessThanOrEqualTo(bound);
        assertThat(readPeak).as("bytes held while the 64 MiB read streamed").isPositive()
                .isLessThanOrEqualTo(RequestDecoder.FILL_LIMIT + 64);
        // the allocator's own count, which sees every buffer the server took, in the budget or not (the decoder's
        // part being filled, the socket's reads): nothing was ever allocated whole
        assertThat(hugeAllocations() - hugeBefore).as("buffers over 16 MiB allocated").isZero();
    }

    @Test
    void aClientStoppingHalfWayThroughA64MiBWriteHoldsLessThanAPart() throws Exception {
        RawNbdClient c = start(false);
        long before = server.context().memory().used();
        byte[] data = random(MAX, 5);
        c.out.writeInt(NbdConstants.REQUEST_MAGIC);
        c.out.writeShort(0);
        c.out.writeShort(WRITE);
        c.out.writeLong(9);
        c.out.writeLong(0);
        c.out.writeInt(MAX);
        c.out.write(data, 0, 5 << 20); // two parts and a bit of a third
        c.out.flush();
        // the two whole parts are stored and released; what is left is the write's header (64) and the part being
        // filled, which the decoder holds outside the budget (at most 2 MiB, see RequestDecoderTest): not 64 MiB
        Await.until("the whole parts to be stored", () -> server.context().memory().used() == before + 64);
        c.out.write(data, 5 << 20, MAX - (5 << 20));
        c.out.flush();
        Reply w = c.readReply(0);
        assertThat(w.cookie()).isEqualTo(9);
        assertThat(w.error()).isZero();
        c.request(0, READ, 10, 0, MAX, null);
        assertThat(Arrays.equals(c.readReply(MAX).data(), data)).as("the write was stored whole").isTrue();
    }

    @Test
    void aWriteAboveTheMaximumGetsEinvalAndTheConnectionGoesOn() throws Exception {
        RawNbdClient c = start(true);
        int over = MAX + 4096;
        c.request(0, WRITE, 3, 0, over, new byte[over]);
        Reply refused = c.readReply(0);
        assertThat(refused.cookie()).isEqualTo(3);
        assertThat(refused.error()).isEqualTo(NbdError.EINVAL.code());
        assertThat(new String(refused.data(), 6, refused.data().length - 6, StandardCharsets.UTF_8))
                .contains("exceeds the maximum of " + MAX);

        byte[] data = random(8192, 3);
        c.request(0, WRITE, 4, 0, data.length, data);
        assertThat(c.readReply(0).error()).as("the connection still works").isZero();
        c.request(0, READ, 5, 0, data.length, null);
        Reply r = c.readReply(0);
        assertThat(r.error()).isZero();
        assertThat(Arrays.copyOfRange(r.data(), 8, r.data().length)).as("nothing of the refused write was stored")
                .isEqualTo(data);
        assertThat(Files.size(dir.resolve("disk.img"))).isEqualTo(2L * MAX);
    }
}
