package dev.rbd.server;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rbd.protocol.ListEntry;
import dev.rbd.protocol.NbdInfo;
import dev.rbd.protocol.NbdOption;
import dev.rbd.protocol.NbdReplyType;
import dev.rbd.protocol.RbdSession;
import dev.rbd.server.RawNbdClient.OptReply;
import dev.rbd.server.export.AccessRules;
import dev.rbd.server.export.Export;
import dev.rbd.server.export.ServerConfig;
import dev.rbd.server.store.MemoryBlockStore;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import java.io.IOException;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Per-export allow rules through a real server: a peer no rule of an export names does not see it in LIST, gets
 * ERR_POLICY for INFO, GO and rbd's session option (and a closed connection for EXPORT_NAME), and learns nothing
 * about it; by address, by Unix user and by TLS identity.
 */
class ExportAccessTest {
    /** Sizes no reply to a refused peer may carry. */
    private static final long ROOM_SIZE = 3 << 20;

    @TempDir
    Path dir;

    private RbdServer server;

    @AfterEach
    void stop() {
        if (server != null) {
            server.close();
        }
    }

    private static Export export(String name, long size, String... allow) {
        return Export.builder(name, new MemoryBlockStore(size)).description(name + " secret description")
                .access(AccessRules.of(Arrays.stream(allow).map(AccessRules::parseForExport).toList())).build();
    }

    private static ServerConfig config(InetSocketAddress... listen) {
        return ServerConfig.defaults(List.of(listen)).withHandshakeTimeout(Duration.ofSeconds(5));
    }

    /** room (the default export) for 127.0.0.2 only, lab for cn:host42 only, pub for everyone. */
    private RbdServer startTcp() throws Exception {
        server = TestServers.start(config(new InetSocketAddress("127.0.0.1", 0)),
                export("room", ROOM_SIZE, "127.0.0.2"), export("lab", 1 << 20, "cn:host42"), export("pub", 1 << 20));
        return server;
    }

    private RawNbdClient connect(String from, String identity) throws IOException {
        RawNbdClient c = new RawNbdClient(server.port(), from).greet();
        if (identity != null) {
            TestServers.serverSide(server, c).identity(identity);
        }
        return c;
    }

    static List<String> list(RawNbdClient c) throws IOException {
        List<String> names = new ArrayList<>();
        for (OptReply r : c.option(NbdOption.LIST.code(), new byte[0])) {
            if (r.type() == NbdReplyType.SERVER.code()) {
                names.add(ListEntry.decode(Unpooled.wrappedBuffer(r.data())).name());
            } else {
                assertThat(r.type()).isEqualTo(NbdReplyType.ACK.code());
            }
        }
        return names;
    }

    static byte[] sessionData(UUID id, int slot, long epoch, String export) {
        ByteBuf b = new RbdSession.Request(id, slot, epoch, export).encode();
        try {
            return ByteBufUtil.getBytes(b);
        } finally {
            b.release();
        }
    }

    /** The one reply a refused INFO or GO gets, checked to say nothing of the export. */
    private static OptReply refused(List<OptReply> replies) {
        assertThat(replies).as("one reply: no INFO of the export").hasSize(1);
        OptReply r = replies.get(0);
        assertThat(r.type()).as(r.text()).isEqualTo(NbdReplyType.ERR_POLICY.code());
        assertThat(r.text()).contains("not allowed").doesNotContain("secret", "3145728", "3 MiB", "127.0.0.2",
                "host42");
        return r;
    }

    @Test
    void listShowsOnlyTheExportsThePeerMayUse() throws Exception {
        startTcp();
        try (RawNbdClient stranger = connect("127.0.0.1", null);
             RawNbdClient roomMate = connect("127.0.0.2", null);
             RawNbdClient host42 = connect("127.0.0.1", "host42");
             RawNbdClient host43 = connect("127.0.0.2", "host43")) {
            assertThat(list(stranger)).containsExactly("pub");
            assertThat(list(roomMate)).containsExactly("room", "pub");
            assertThat(list(host42)).containsExactly("lab", "pub");
            assertThat(list(host43)).as("an identity adds to the address, never takes away")
                    .containsExactly("room", "pub");
        }
    }

    @Test
    void infoAndGoForARefusedExportGetErrPolicyAndNothingElse() throws Exception {
        startTcp();
        try (RawNbdClient c = connect("127.0.0.1", null)) {
            byte[] all = RawNbdClient.infoData("room", NbdInfo.NAME.code(), NbdInfo.DESCRIPTION.code(),
                    NbdInfo.BLOCK_SIZE.code());
            refused(c.option(NbdOption.INFO.code(), all));
            refused(c.option(NbdOption.GO.code(), all));
            assertThat(refused(c.option(NbdOption.INFO.code(), RawNbdClient.infoData(""))).text())
                    .as("the default export is refused too, without its name").doesNotContain("room");
            refused(c.option(NbdOption.INFO.code(), RawNbdClient.infoData("lab")));
            assertThat(c.option(NbdOption.INFO.code(), RawNbdClient.infoData("nope")).get(0).type())
                    .isEqualTo(NbdReplyType.ERR_UNKNOWN.code());
            assertThat(c.go("pub").type()).as("negotiation goes on to an export it may use")
                    .isEqualTo(NbdReplyType.ACK.code());
            assertThat(c.size).isEqualTo(1 << 20);
        }
        assertThat(server.context().export("room").writerLock().owner()).isNull();
        try (RawNbdClient member = connect("127.0.0.2", null)) {
            assertThat(member.go("room").type()).isEqualTo(NbdReplyType.ACK.code());
            assertThat(member.size).isEqualTo(ROOM_SIZE);
        }
    }

    @Test
    void exportNameForARefusedExportCloses() throws Exception {
        startTcp();
        try (RawNbdClient c = connect("127.0.0.1", null)) {
            c.sendOption(NbdOption.EXPORT_NAME.code(), "room".getBytes(StandardCharsets.UTF_8));
            assertThat(c.closedByServer()).isTrue();
        }
        try (RawNbdClient c = connect("127.0.0.1", "host43")) {
            c.sendOption(NbdOption.EXPORT_NAME.code(), "lab".getBytes(StandardCharsets.UTF_8));
            assertThat(c.closedByServer()).isTrue();
        }
        try (RawNbdClient c = connect("127.0.0.1", "host42")) {
            c.sendOption(NbdOption.EXPORT_NAME.code(), "lab".getBytes(StandardCharsets.UTF_8));
            assertThat(c.in.readLong()).as("EXPORT_NAME's reply: the size").isEqualTo(1 << 20);
        }
    }

    @Test
    void theSessionOptionForARefusedExportGetsErrPolicy() throws Exception {
        startTcp();
        UUID id = UUID.randomUUID();
        try (RawNbdClient c = connect("127.0.0.1", "host43")) {
            List<OptReply> r = c.option(RbdSession.OPTION, sessionData(id, 0, 1, "lab"));
            assertThat(r).hasSize(1);
            assertThat(r.get(0).type()).isEqualTo(NbdReplyType.ERR_POLICY.code());
            assertThat(r.get(0).text()).contains("not allowed").doesNotContain(id.toString());
            assertThat(c.go("pub").type()).isEqualTo(NbdReplyType.ACK.code());
        }
        try (RawNbdClient c = connect("127.0.0.1", "host42")) {
            List<OptReply> r = c.option(RbdSession.OPTION, sessionData(id, 0, 1, "lab"));
            assertThat(r.get(r.size() - 1).type()).as("the refused attempt registered nothing")
                    .isEqualTo(NbdReplyType.ACK.code());
            assertThat(c.go("lab").type()).isEqualTo(NbdReplyType.ACK.code());
        }
    }

    @Test
    void theSessionOptionIsRefusedByAddressToo() throws Exception {
        startTcp();
        UUID id = UUID.randomUUID();
        try (RawNbdClient c = connect("127.0.0.1", null)) {
            List<OptReply> r = c.option(RbdSession.OPTION, sessionData(id, 0, 1, "room"));
            assertThat(r).hasSize(1);
            assertThat(r.get(0).type()).isEqualTo(NbdReplyType.ERR_POLICY.code());
            assertThat(r.get(0).text()).contains("not allowed").doesNotContain(id.toString(), "secret");
        }
        try (RawNbdClient c = connect("127.0.0.2", null)) {
            List<OptReply> r = c.option(RbdSession.OPTION, sessionData(id, 0, 1, "room"));
            assertThat(r.get(r.size() - 1).type()).isEqualTo(NbdReplyType.ACK.code());
        }
    }

    /** LIST_META_CONTEXT / SET_META_CONTEXT data: an export name and no queries. */
    private static byte[] metaContextData(String export) {
        byte[] n = export.getBytes(StandardCharsets.UTF_8);
        return java.nio.ByteBuffer.allocate(8 + n.length).putInt(n.length).put(n).putInt(0).array();
    }

    @Test
    void metaContextOptionsForARefusedExportGetOnlyAnError() throws Exception {
        // they name an export too: whatever the server answers them, a refused peer learns nothing of it
        startTcp();
        try (RawNbdClient c = connect("127.0.0.1", null)) {
            // with structured replies, so that the options get as far as the export's rules
            c.structuredReplies();
            for (NbdOption o : new NbdOption[] {NbdOption.LIST_META_CONTEXT, NbdOption.SET_META_CONTEXT}) {
                List<OptReply> r = c.option(o.code(), metaContextData("room"));
                assertThat(r).as(o.name()).hasSize(1);
                assertThat(r.get(0).type()).as(o.name()).isEqualTo(NbdReplyType.ERR_POLICY.code());
                assertThat(r.get(0).text()).doesNotContain("secret");
            }
        }
    }

    @Test
    void identitiesAreMatchedExactly() throws Exception {
        startTcp();
        for (String cn : new String[] {"Host42", "host42 ", "host4", "host420"}) {
            try (RawNbdClient c = connect("127.0.0.1", cn)) {
                assertThat(list(c)).as(cn).containsExactly("pub");
                refused(c.option(NbdOption.GO.code(), RawNbdClient.infoData("lab")));
            }
        }
        try (RawNbdClient c = connect("127.0.0.2", "host42")) {
            assertThat(c.go("lab").type()).as("from any address").isEqualTo(NbdReplyType.ACK.code());
        }
    }

    @Test
    void ipv4LoopbackIpv6LoopbackAndMappedAddressesAreTold() throws Exception {
        boolean ipv6 = hasIpv6Loopback();
        if (!ipv6 && "true".equals(System.getenv("CI"))) {
            throw new AssertionError("CI: this machine has no IPv6 loopback (::1)");
        }
        Assumptions.assumeTrue(ipv6, "SKIP: no IPv6 loopback (::1) on this machine");
        // dual-stack: an IPv4 client reaches the IPv6 socket as ::ffff:127.0.0.1
        server = TestServers.start(config(new InetSocketAddress(InetAddress.getByName("::"), 0)),
                export("v4", 1 << 20, "127.0.0.1"), export("v6", 1 << 20, "::1"),
                export("mapped", 1 << 20, "::ffff:127.0.0.1"), export("v4net", 1 << 20, "127.0.0.0/8"),
                export("v6net", 1 << 20, "::/1"));
        InetSocketAddress overV4 = new InetSocketAddress(InetAddress.getByName("127.0.0.1"), server.port());
        InetSocketAddress overV6 = new InetSocketAddress(InetAddress.getByName("::1"), server.port());
        try (RawNbdClient c = new RawNbdClient(overV4, "127.0.0.1").greet()) {
            assertThat(list(c)).containsExactly("v4", "mapped", "v4net");
            refused(c.option(NbdOption.GO.code(), RawNbdClient.infoData("v6")));
            assertThat(c.go("mapped").type()).isEqualTo(NbdReplyType.ACK.code());
        }
        try (RawNbdClient c = new RawNbdClient(overV6, "::1").greet()) {
            assertThat(TestServers.serverSide(server, c).address()).isInstanceOf(Inet6Address.class);
            assertThat(list(c)).containsExactly("v6", "v6net");
            refused(c.option(NbdOption.GO.code(), RawNbdClient.infoData("v4")));
            refused(c.option(NbdOption.GO.code(), RawNbdClient.infoData("mapped")));
            assertThat(c.go("v6").type()).isEqualTo(NbdReplyType.ACK.code());
        }
    }

    private static boolean hasIpv6Loopback() {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getByName("::1"))) {
            return s.getLocalPort() > 0;
        } catch (IOException e) {
            return false;
        }
    }

    @Test
    void unixPeersAreAllowedByUserId() throws Exception {
        Assumptions.assumeTrue(RbdServer.nativeTransport(), "SKIP: Unix sockets need the native epoll transport");
        int me = (Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid");
        Path sock = dir.resolve("rbd.sock");
        server = TestServers.start(ServerConfig.defaults(List.of()).withUnixSocket(sock)
                        .withHandshakeTimeout(Duration.ofSeconds(5)),
                export("theirs", 1 << 20, "uid:" + (me + 1L), "127.0.0.1"), export("mine", 1 << 20, "uid:" + me));
        try (RawNbdClient c = new RawNbdClient(sock).greet()) {
            assertThat(list(c)).containsExactly("mine");
            refused(c.option(NbdOption.GO.code(), RawNbdClient.infoData("theirs")));
            assertThat(c.go("mine").type()).isEqualTo(NbdReplyType.ACK.code());
        }
    }
}
