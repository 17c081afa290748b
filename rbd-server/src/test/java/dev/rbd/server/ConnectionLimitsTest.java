package dev.rbd.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.rbd.protocol.NbdOption;
import dev.rbd.protocol.NbdReplyType;
import dev.rbd.server.RawNbdClient.OptReply;
import dev.rbd.server.export.Limits;
import dev.rbd.server.export.ServerConfig;
import dev.rbd.server.handshake.HandshakeHandler;
import dev.rbd.server.store.MemoryBlockStore;
import io.netty.channel.Channel;
import io.netty.channel.ChannelOption;
import io.netty.channel.epoll.EpollChannelOption;
import io.netty.channel.epoll.EpollSocketChannel;
import java.io.EOFException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** --max-connections, --max-connections-per-address, the cap on options, and TCP keepalive on accepted sockets. */
class ConnectionLimitsTest {
    private final List<RawNbdClient> clients = new ArrayList<>();
    private RbdServer server;

    @AfterEach
    void stop() throws IOException {
        for (RawNbdClient c : clients) {
            c.close();
        }
        if (server != null) {
            server.close();
        }
    }

    private RbdServer start(int max, int perAddress) throws Exception {
        ServerConfig config = ServerConfig.defaults(List.of(new InetSocketAddress("127.0.0.1", 0)))
                .withHandshakeTimeout(Duration.ofSeconds(5))
                .withLimits(Limits.DEFAULT.withMaxConnections(max, perAddress));
        server = TestServers.start(config, TestServers.export("disk", new MemoryBlockStore(1 << 20), false));
        return server;
    }

    private RawNbdClient connect(String from) throws IOException {
        RawNbdClient c = new RawNbdClient(server.port(), from);
        clients.add(c);
        return c;
    }

    private static OptReply firstReplyToGo(RawNbdClient c) throws IOException {
        c.sendOption(NbdOption.GO.code(), RawNbdClient.infoData("disk"));
        return c.readOptionReply();
    }

    @Test
    void aConnectionOverTheLimitIsToldWhyAndClosed() throws Exception {
        start(2, 64);
        connect("127.0.0.1").greet();
        connect("127.0.0.2").open("disk", true);
        await().atMost(Duration.ofSeconds(5)).until(() -> server.connectionCounts().open() == 2);

        RawNbdClient third = connect("127.0.0.3").greet();
        OptReply refused = firstReplyToGo(third);
        assertThat(refused.type()).isEqualTo(NbdReplyType.ERR_POLICY.code());
        assertThat(refused.text()).isEqualTo("rbd-server is at its limit of 2 connections");
        assertThat(third.closedByServer()).isTrue();
        await().atMost(Duration.ofSeconds(5)).until(() -> server.connectionCounts().refusing() == 0);
        assertThat(server.connectionCounts().open()).isEqualTo(2);
    }

    @Test
    void oneAddressIsCappedOthersAreNot() throws Exception {
        start(16, 2);
        connect("127.0.0.1").open("disk", true);
        connect("127.0.0.1").greet();
        await().atMost(Duration.ofSeconds(5)).until(() -> server.connectionCounts().openFrom("127.0.0.1") == 2);

        RawNbdClient third = connect("127.0.0.1").greet();
        OptReply refused = firstReplyToGo(third);
        assertThat(refused.type()).isEqualTo(NbdReplyType.ERR_POLICY.code());
        assertThat(refused.text()).isEqualTo("rbd-server is at its limit of 2 connections from one address");
        assertThat(third.closedByServer()).isTrue();

        // another address is admitted (and, read-only INFO, not held off by the first address's writer lock)
        RawNbdClient other = connect("127.0.0.2").greet();
        assertThat(other.option(NbdOption.INFO.code(), RawNbdClient.infoData("disk")))
                .last().extracting(OptReply::type).isEqualTo(NbdReplyType.ACK.code());
    }

    @Test
    void countsAreReleasedWhenConnectionsClose() throws Exception {
        start(2, 64);
        RawNbdClient a = connect("127.0.0.1").open("disk", true);
        RawNbdClient b = connect("127.0.0.1").greet();
        await().atMost(Duration.ofSeconds(5)).until(() -> server.connectionCounts().open() == 2);
        a.close();
        b.close();
        await().atMost(Duration.ofSeconds(5)).until(() -> server.connectionCounts().open() == 0
                && server.connectionCounts().openFrom("127.0.0.1") == 0);
        connect("127.0.0.1").open("disk", true);
        connect("127.0.0.1").open("disk", false);
        assertThat(server.connectionCounts().open()).isEqualTo(2);
    }

    @Test
    void beyondSixtyFourRefusedConnectionsOneIsClosedAtOnce() throws Exception {
        start(1, 64);
        connect("127.0.0.1").open("disk", true);
        for (int i = 0; i < ConnectionCounts.MAX_REFUSING; i++) {
            connect("127.0.0.2").greet();
        }
        await().atMost(Duration.ofSeconds(10))
                .until(() -> server.connectionCounts().refusing() == ConnectionCounts.MAX_REFUSING);
        RawNbdClient dropped = connect("127.0.0.3");
        assertThat(readsNothing(dropped)).isTrue();
        // once the refused ones are gone, a refused connection is told why again
        for (RawNbdClient c : clients.subList(1, clients.size() - 1)) {
            c.close();
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> server.connectionCounts().refusing() == 0);
        RawNbdClient told = connect("127.0.0.3").greet();
        assertThat(firstReplyToGo(told).text()).isEqualTo("rbd-server is at its limit of 1 connections");
    }

    /** True when the server closed the connection without even a greeting. */
    private static boolean readsNothing(RawNbdClient c) throws IOException {
        try {
            return c.in.read() < 0;
        } catch (EOFException | SocketException e) {
            return true;
        }
    }

    @Test
    void theSixtyFifthOptionIsRefusedAndTheConnectionClosed() throws Exception {
        start(16, 16);
        RawNbdClient c = connect("127.0.0.1").greet();
        for (int i = 0; i < HandshakeHandler.MAX_OPTIONS; i++) {
            assertThat(c.option(NbdOption.LIST.code(), new byte[0])).as("option %d", i + 1)
                    .last().extracting(OptReply::type).isEqualTo(NbdReplyType.ACK.code());
        }
        List<OptReply> refused = c.option(NbdOption.LIST.code(), new byte[0]);
        assertThat(refused).hasSize(1);
        assertThat(refused.get(0).type()).isEqualTo(NbdReplyType.ERR_POLICY.code());
        assertThat(refused.get(0).text()).isEqualTo("too many options");
        assertThat(c.closedByServer()).isTrue();
    }

    @Test
    void acceptedSocketsHaveKeepalive() throws Exception {
        start(16, 16);
        connect("127.0.0.1").open("disk", true);
        await().atMost(Duration.ofSeconds(5)).until(() -> !server.context().channels().isEmpty());
        Channel ch = server.context().channels().iterator().next();
        assertThat(ch.config().getOption(ChannelOption.SO_KEEPALIVE)).isTrue();
        if (ch instanceof EpollSocketChannel) {
            assertThat(ch.config().getOption(EpollChannelOption.TCP_KEEPIDLE)).isEqualTo(60);
            assertThat(ch.config().getOption(EpollChannelOption.TCP_KEEPINTVL)).isEqualTo(10);
            assertThat(ch.config().getOption(EpollChannelOption.TCP_KEEPCNT)).isEqualTo(6);
        }
    }
}
