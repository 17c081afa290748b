package dev.rbd.server;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rbd.protocol.NbdConstants;
import dev.rbd.protocol.NbdReplyType;
import dev.rbd.server.export.AccessRules;
import dev.rbd.server.export.ServerConfig;
import dev.rbd.server.store.MemoryBlockStore;
import java.net.InetSocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code --allow}: peers no rule names are closed before the greeting; the others are served as ever. */
class AccessControlTest {
    @TempDir
    Path dir;

    private static RbdServer start(ServerConfig config) throws Exception {
        return TestServers.start(config.withHandshakeTimeout(Duration.ofSeconds(5)),
                TestServers.export("disk", new MemoryBlockStore(1 << 20), false));
    }

    private static ServerConfig tcp() {
        return ServerConfig.defaults(List.of(new InetSocketAddress("127.0.0.1", 0)));
    }

    private static int port(RbdServer s) {
        return ((InetSocketAddress) s.boundAddresses().get(0)).getPort();
    }

    @Test
    void onlyTheAddressesAllowedGetTheGreeting() throws Exception {
        RbdServer server = start(tcp().withAccess(AccessRules.of(List.of(AccessRules.parse("127.0.0.2/32")))));
        try {
            try (RawNbdClient stranger = new RawNbdClient(port(server), "127.0.0.1")) {
                assertThat(stranger.in.read()).as("closed before a byte of greeting").isEqualTo(-1);
            }
            try (RawNbdClient member = new RawNbdClient(port(server), "127.0.0.2").greet()) {
                assertThat(member.go("disk").type()).isEqualTo(NbdReplyType.ACK.code());
            }
            assertThat(server.connectionCounts().open()).as("refused peers are never counted").isLessThanOrEqualTo(1);
        } finally {
            server.close();
        }
    }

    @Test
    void anAllowFileWithNoRuleRefusesEveryone() throws Exception {
        Path empty = Files.writeString(dir.resolve("allow"), "# to be filled in\n");
        RbdServer server = start(tcp().withAccess(AccessRules.read(empty, List.of())));
        try {
            for (String from : List.of("127.0.0.1", "127.0.0.2")) {
                try (RawNbdClient c = new RawNbdClient(port(server), from)) {
                    assertThat(c.in.read()).as("from %s", from).isEqualTo(-1);
                }
            }
        } finally {
            server.close();
        }
    }

    @Test
    void unixSocketPeersAreAllowedByUserId() throws Exception {
        Assumptions.assumeTrue(RbdServer.nativeTransport(), "SKIP: Unix sockets need the native epoll transport");
        int me = (Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid");
        for (long uid : new long[] {me, me + 1L}) {
            Path sock = dir.resolve("rbd-" + uid + ".sock");
            RbdServer server = start(ServerConfig.defaults(List.of()).withUnixSocket(sock)
                    .withAccess(AccessRules.of(List.of(AccessRules.parse("uid:" + uid), AccessRules.parse("::/0")))));
            try (SocketChannel ch = SocketChannel.open(UnixDomainSocketAddress.of(sock))) {
                ByteBuffer greeting = ByteBuffer.allocate(8);
                int n = 0;
                while (greeting.hasRemaining() && (n = ch.read(greeting)) >= 0) {
                    // read the magic or the close
                }
                if (uid == me) {
                    assertThat(greeting.getLong(0)).isEqualTo(NbdConstants.NBDMAGIC);
                } else {
                    assertThat(n).as("uid:%d does not name us (uid %d)", uid, me).isEqualTo(-1);
                    assertThat(greeting.position()).isZero();
                }
            } finally {
                server.close();
            }
        }
    }
}
