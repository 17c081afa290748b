package dev.rbd.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.rbd.server.RbdServer;
import dev.rbd.server.export.Export;
import dev.rbd.server.export.ServerConfig;
import dev.rbd.server.store.MemoryBlockStore;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The ghost write: the network holds an old connection's write, the client gives up on that connection,
 * reconnects, replays it and writes newer data to the same range; then the old bytes arrive. With fencing the
 * server has closed the old connection before the replay, so they land nowhere; without it they overwrite the
 * newer data, which no quiescence wait can prevent when the delay is longer than the wait.
 */
class GhostWriteTest {
    private RbdServer server;
    private FaultProxy proxy;
    private final MemoryBlockStore store = new MemoryBlockStore(1 << 20);

    @BeforeEach
    void start() throws Exception {
        server = new RbdServer(ServerConfig.defaults(List.of(new InetSocketAddress("127.0.0.1", 0))), List.of(
                Export.builder("disk", store).description("d").build())).start();
        proxy = FaultProxy.start(new InetSocketAddress("127.0.0.1", server.port()));
    }

    @AfterEach
    void stop() {
        proxy.close();
        server.close();
    }

    private static byte[] block(int seed) {
        byte[] b = new byte[4096];
        new Random(seed).nextBytes(b);
        return b;
    }

    private ClientOptions options(boolean fencing) {
        return ClientOptions.builder().fencing(fencing).ioTimeout(Duration.ofMillis(300))
                .reconnectWait(Duration.ofSeconds(20)).backoff(Duration.ofMillis(20), Duration.ofMillis(100))
                .quiescence(Duration.ofMillis(100)).build();
    }

    /** Holds the first connection's next write, lets the client replay it and write newer data, then releases. */
    private FaultProxy.Link holdOldWriteThenWriteNewer(RbdClient c) throws Exception {
        c.write(0, block(0)).get(5, TimeUnit.SECONDS);
        FaultProxy.Link old = proxy.link(0, Duration.ofSeconds(5));
        old.hold();
        var a = c.write(0, block(1)); // held by the network
        a.get(20, TimeUnit.SECONDS); // I/O timeout, reconnect on a second link, replayed there
        assertThat(proxy.linkCount()).isEqualTo(2);
        assertThat(old.bytesWaitingUp()).as("the old write is still held").isGreaterThanOrEqualTo(4096);
        c.write(0, block(2)).get(5, TimeUnit.SECONDS); // newer data, acknowledged
        return old;
    }

    @Test
    void withFencingTheOldConnectionsHeldWriteLandsNowhere() throws Exception {
        try (RbdClient c = RbdClient.connect(proxy.uri("disk"), options(true))) {
            assertThat(c.info().fencing()).isTrue();
            FaultProxy.Link old = holdOldWriteThenWriteNewer(c);
            // fencing closed the server's side of the old connection before the replay was answered
            old.upstreamClosed().get(5, TimeUnit.SECONDS);
            old.release();
            assertThat(c.read(0, 4096).get(5, TimeUnit.SECONDS)).isEqualTo(block(2));
            // and it stays so: nothing of the old connection is left anywhere to run later
            c.close();
            byte[] direct = new byte[4096];
            io.netty.buffer.ByteBuf buf = io.netty.buffer.Unpooled.wrappedBuffer(direct).clear();
            store.read(0, buf, 4096);
            assertThat(Arrays.equals(direct, block(2))).isTrue();
        }
    }

    @Test
    void withoutFencingTheHeldWriteOverwritesNewerData() throws Exception {
        try (RbdClient c = RbdClient.connect(proxy.uri("disk"), options(false))) {
            assertThat(c.info().fencing()).isFalse();
            FaultProxy.Link old = holdOldWriteThenWriteNewer(c);
            assertThat(old.upstreamClosed()).as("nothing closed the old connection").isNotDone();
            old.release();
            // the hazard fencing exists for: the stale write lands after the newer one
            await().atMost(Duration.ofSeconds(5)).until(() -> Arrays.equals(c.read(0, 4096).get(5, TimeUnit.SECONDS),
                    block(1)));
        }
    }
}
