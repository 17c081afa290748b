package dev.rbd.server.handshake;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.rbd.protocol.NbdCommand;
import dev.rbd.protocol.NbdConstants;
import dev.rbd.protocol.NbdInfo;
import dev.rbd.protocol.NbdOption;
import dev.rbd.protocol.NbdReplyType;
import dev.rbd.protocol.RbdSession;
import dev.rbd.protocol.tls.TestPki;
import dev.rbd.protocol.tls.TlsDirectory;
import dev.rbd.server.RawNbdClient;
import dev.rbd.server.RawNbdClient.OptReply;
import dev.rbd.server.RbdServer;
import dev.rbd.server.TestServers;
import dev.rbd.server.TlsClients;
import dev.rbd.server.export.AccessRules;
import dev.rbd.server.export.Connection;
import dev.rbd.server.export.Export;
import dev.rbd.server.export.ServerConfig;
import dev.rbd.server.export.TlsConfig;
import dev.rbd.server.store.MemoryBlockStore;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.Channel;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/** STARTTLS against a real server: off, on and require, what survives it (nothing), and certificate failures. */
class StartTlsTest {
    private static final int STARTTLS = NbdOption.STARTTLS.code();
    private static final int ERR_TLS_REQD = NbdReplyType.ERR_TLS_REQD.code();
    private static final int ACK = NbdReplyType.ACK.code();

    @TempDir
    static Path pki;
    /** The server's CA and certificates, with a client certificate for "alice". */
    static Path good;
    /** Only the server's CA: a client without a certificate. */
    static Path caOnly;
    /** Another CA, with its own client certificate for "mallory". */
    static Path other;
    /** Trusts the server's CA, presents mallory's certificate from the other CA. */
    static Path strangerCert;
    /** The server's CA with an expired server certificate. */
    static Path expired;

    private final Logger tlsLog = (Logger) LoggerFactory.getLogger(StartTls.class);
    private final Logger handshakeLog = (Logger) LoggerFactory.getLogger(HandshakeHandler.class);
    private final ListAppender<ILoggingEvent> logged = new ListAppender<>();
    private RbdServer server;

    @BeforeAll
    static void makePki() throws Exception {
        good = TestPki.make(pki.resolve("good"), "alice");
        other = TestPki.make(pki.resolve("other"), "mallory");
        caOnly = Files.createDirectories(pki.resolve("ca-only"));
        Files.copy(good.resolve(TlsDirectory.CA_CERT), caOnly.resolve(TlsDirectory.CA_CERT));
        strangerCert = Files.createDirectories(pki.resolve("stranger"));
        Files.copy(good.resolve(TlsDirectory.CA_CERT), strangerCert.resolve(TlsDirectory.CA_CERT));
        Files.copy(other.resolve(TlsDirectory.CLIENT_CERT), strangerCert.resolve(TlsDirectory.CLIENT_CERT));
        Files.copy(other.resolve(TlsDirectory.CLIENT_KEY), strangerCert.resolve(TlsDirectory.CLIENT_KEY));
        expired = TestPki.run(pki.resolve("expired"), List.of("--expired", "--ca-from", good.toString()));
    }

    @BeforeEach
    void capture() {
        logged.start();
        tlsLog.addAppender(logged);
        tlsLog.setLevel(Level.INFO);
        handshakeLog.addAppender(logged);
    }

    @AfterEach
    void stop() {
        if (server != null) {
            server.close();
        }
        tlsLog.detachAppender(logged);
        tlsLog.setLevel(null);
        handshakeLog.detachAppender(logged);
    }

    private int start(TlsConfig.Mode mode, Path dir, boolean verifyPeer) throws Exception {
        TlsConfig tls = mode == TlsConfig.Mode.OFF ? TlsConfig.OFF : new TlsConfig(mode, dir, verifyPeer);
        server = TestServers.start(ServerConfig.defaults(List.of(new InetSocketAddress("127.0.0.1", 0)))
                .withHandshakeTimeout(Duration.ofSeconds(10)).withTls(tls),
                TestServers.export("disk", new MemoryBlockStore(1 << 20), false),
                TestServers.export("usr", new MemoryBlockStore(2 << 20), true));
        return server.port();
    }

    private int start(TlsConfig.Mode mode) throws Exception {
        return start(mode, good, false);
    }

    private List<String> lines(Level level) {
        return logged.list.stream().filter(e -> e.getLevel() == level).map(ILoggingEvent::getFormattedMessage)
                .toList();
    }

    @Test
    void offAnswersStartTlsWithErrUnsup() throws Exception {
        int port = start(TlsConfig.Mode.OFF);
        try (RawNbdClient c = new RawNbdClient(port).greet()) {
            assertThat(c.option(STARTTLS, new byte[0]).get(0).type()).isEqualTo(NbdReplyType.ERR_UNSUP.code());
            assertThat(c.go("disk").type()).isEqualTo(ACK);
        }
    }

    @Test
    void requireRefusesEveryOptionButStartTlsAndServesAfterIt() throws Exception {
        int port = start(TlsConfig.Mode.REQUIRE);
        try (RawNbdClient c = new RawNbdClient(port).greet()) {
            for (int[] o : new int[][] {{NbdOption.INFO.code(), 1}, {NbdOption.LIST.code(), 0},
                {NbdOption.GO.code(), 1}, {NbdOption.SET_META_CONTEXT.code(), 0},
                {NbdOption.LIST_META_CONTEXT.code(), 0},
                {NbdOption.STRUCTURED_REPLY.code(), 0}, {NbdOption.LIST.code(), 1}, {0x4000_0000, 0}}) {
                byte[] data = o[1] == 1 ? RawNbdClient.infoData("disk", NbdInfo.NAME.code()) : new byte[0];
                List<OptReply> r = c.option(o[0], data);
                // one reply, the error, and no export named: its data was consumed, the next option reads cleanly
                assertThat(r).extracting(OptReply::type).as("option %d", o[0]).containsExactly(ERR_TLS_REQD);
                assertThat(r.get(0).option()).isEqualTo(o[0]);
                assertThat(r.get(0).text()).doesNotContain("disk").doesNotContain("usr");
            }
            RawNbdClient t = TlsClients.startTls(c, good);
            List<OptReply> list = t.option(NbdOption.LIST.code(), new byte[0]);
            assertThat(list).extracting(OptReply::type).containsExactly(NbdReplyType.SERVER.code(),
                    NbdReplyType.SERVER.code(), ACK);
            assertThat(t.go("disk").type()).isEqualTo(ACK);
            assertThat(t.size).isEqualTo(1 << 20);
            t.request(0, NbdCommand.READ.code(), 7, 0, 4096, null);
            RawNbdClient.Reply reply = t.readReply(4096);
            assertThat(reply.cookie()).isEqualTo(7);
            assertThat(reply.error()).isZero();
        }
        assertThat(lines(Level.INFO)).anySatisfy(l -> assertThat(l).contains("TLS TLSv1.3"));
    }

    @Test
    void requireClosesOnPlaintextExportName() throws Exception {
        int port = start(TlsConfig.Mode.REQUIRE);
        try (RawNbdClient c = new RawNbdClient(port).greet()) {
            c.sendOption(NbdOption.EXPORT_NAME.code(), "disk".getBytes(java.nio.charset.StandardCharsets.UTF_8));
            assertThat(c.closedByServer()).isTrue();
        }
    }

    @Test
    void onServesPlaintextAndTlsClients() throws Exception {
        int port = start(TlsConfig.Mode.ON);
        try (RawNbdClient c = new RawNbdClient(port).greet()) {
            assertThat(c.option(NbdOption.LIST.code(), new byte[0])).hasSize(3);
            assertThat(c.go("usr").type()).isEqualTo(ACK);
            assertThat(c.size).isEqualTo(2 << 20);
        }
        try (RawNbdClient c = new RawNbdClient(port).greet(); RawNbdClient t = TlsClients.startTls(c, good)) {
            assertThat(t.go("usr").type()).isEqualTo(ACK);
            assertThat(t.size).isEqualTo(2 << 20);
        }
    }

    @Test
    void startTlsWithDataIsInvalidAndASecondOneInsideTlsToo() throws Exception {
        int port = start(TlsConfig.Mode.REQUIRE);
        try (RawNbdClient c = new RawNbdClient(port).greet()) {
            assertThat(c.option(STARTTLS, new byte[] {1}).get(0).type()).isEqualTo(NbdReplyType.ERR_INVALID.code());
            RawNbdClient t = TlsClients.startTls(c, good);
            assertThat(t.option(STARTTLS, new byte[0]).get(0).type()).isEqualTo(NbdReplyType.ERR_INVALID.code());
            assertThat(t.go("disk").type()).isEqualTo(ACK);
        }
    }

    @Test
    void optionsPipelinedBehindStartTlsInPlaintextAreNeverProcessed() throws Exception {
        int port = start(TlsConfig.Mode.ON);
        try (RawNbdClient c = new RawNbdClient(port).greet()) {
            // STARTTLS, then STRUCTURED_REPLY and GO for the 2 MiB export, in one write: a man in the middle's
            // injection, which must not survive into the TLS session
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            DataOutputStream d = new DataOutputStream(b);
            option(d, STARTTLS, new byte[0]);
            option(d, NbdOption.STRUCTURED_REPLY.code(), new byte[0]);
            option(d, NbdOption.GO.code(), RawNbdClient.infoData("usr"));
            int injected = b.size() - 16;
            c.out.write(b.toByteArray());
            c.out.flush();
            assertThat(c.readOptionReply().type()).isEqualTo(ACK);
            RawNbdClient t = TlsClients.handshake(c, good);
            // the first reply inside TLS answers the client's own GO for "disk": nothing answers the injected two
            List<OptReply> go = t.option(NbdOption.GO.code(), RawNbdClient.infoData("disk"));
            assertThat(go).allSatisfy(r -> assertThat(r.option()).isEqualTo(NbdOption.GO.code()));
            assertThat(go.get(0).type()).isEqualTo(NbdReplyType.INFO.code());
            assertThat(java.nio.ByteBuffer.wrap(go.get(0).data()).getLong(2)).as("export size").isEqualTo(1 << 20);
            assertThat(go.get(go.size() - 1).type()).isEqualTo(ACK);
            // structured replies were not negotiated: a READ gets a simple reply
            t.request(0, NbdCommand.READ.code(), 9, 0, 512, null);
            RawNbdClient.Reply reply = t.readReply(512);
            assertThat(reply.structured()).isFalse();
            assertThat(reply.cookie()).isEqualTo(9);
            assertThat(lines(Level.WARN)).containsExactly("[" + connectionId() + "] " + peer(c)
                    + ": " + injected + " bytes sent behind STARTTLS before the TLS handshake; dropped unread");
        }
    }

    private static void option(DataOutputStream d, int option, byte[] data) throws IOException {
        d.writeLong(NbdConstants.IHAVEOPT);
        d.writeInt(option);
        d.writeInt(data.length);
        d.write(data);
    }

    @Test
    void structuredRepliesNegotiatedBeforeStartTlsAreForgotten() throws Exception {
        int port = start(TlsConfig.Mode.ON);
        try (RawNbdClient c = new RawNbdClient(port).greet()) {
            assertThat(c.option(NbdOption.STRUCTURED_REPLY.code(), new byte[0]).get(0).type()).isEqualTo(ACK);
            RawNbdClient t = TlsClients.startTls(c, good);
            assertThat(t.go("disk").type()).isEqualTo(ACK);
            t.request(0, NbdCommand.READ.code(), 3, 0, 512, null);
            assertThat(t.readReply(512).structured()).isFalse();
        }
        try (RawNbdClient c = new RawNbdClient(port).greet()) {
            assertThat(c.option(NbdOption.STRUCTURED_REPLY.code(), new byte[0]).get(0).type()).isEqualTo(ACK);
            RawNbdClient t = TlsClients.startTls(c, good);
            // not "already negotiated": the plaintext negotiation is gone
            assertThat(t.option(NbdOption.STRUCTURED_REPLY.code(), new byte[0]).get(0).type()).isEqualTo(ACK);
            assertThat(t.go("disk").type()).isEqualTo(ACK);
            t.request(0, NbdCommand.READ.code(), 4, 0, 512, null);
            assertThat(t.readReply(512).structured()).isTrue();
        }
    }

    @Test
    void requireRefusesTheRbdSessionOptionBeforeTlsAndTakesItInside() throws Exception {
        int port = start(TlsConfig.Mode.REQUIRE);
        byte[] session = sessionData();
        try (RawNbdClient c = new RawNbdClient(port).greet()) {
            assertThat(c.option(RbdSession.OPTION, session)).extracting(OptReply::type).containsExactly(ERR_TLS_REQD);
            RawNbdClient t = TlsClients.startTls(c, good);
            assertThat(t.option(RbdSession.OPTION, session)).extracting(OptReply::type)
                    .containsExactly(RbdSession.REPLY, ACK);
            assertThat(t.go("disk").type()).isEqualTo(ACK);
        }
    }

    @Test
    void startTlsAfterAPlaintextRbdSessionIsInvalid() throws Exception {
        int port = start(TlsConfig.Mode.ON);
        try (RawNbdClient c = new RawNbdClient(port).greet()) {
            assertThat(c.option(RbdSession.OPTION, sessionData())).extracting(OptReply::type)
                    .containsExactly(RbdSession.REPLY, ACK);
            // the session's state (its slot, the fenced connection) cannot be forgotten, so TLS cannot start
            assertThat(c.option(STARTTLS, new byte[0])).extracting(OptReply::type)
                    .containsExactly(NbdReplyType.ERR_INVALID.code());
        }
    }

    private static byte[] sessionData() {
        ByteBuf b = new RbdSession.Request(UUID.randomUUID(), 0, 1, "disk").encode();
        try {
            return ByteBufUtil.getBytes(b);
        } finally {
            b.release();
        }
    }

    @Test
    void aClientTrustingAnotherCaFailsAndTheServerCarriesOn() throws Exception {
        int port = start(TlsConfig.Mode.REQUIRE);
        try (RawNbdClient c = new RawNbdClient(port).greet()) {
            assertThat(c.option(STARTTLS, new byte[0]).get(0).type()).isEqualTo(ACK);
            assertThatThrownBy(() -> TlsClients.handshake(c, other)).isInstanceOf(IOException.class);
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> lines(Level.WARN).size() == 1);
        assertThat(lines(Level.WARN).get(0)).contains(": TLS handshake failed: the client rejected the server's "
                + "certificate");
        goodClientWorks(port, good);
        assertThat(lines(Level.WARN)).hasSize(1);
    }

    @Test
    void anExpiredServerCertificateFails() throws Exception {
        int port = start(TlsConfig.Mode.REQUIRE, expired, false);
        try (RawNbdClient c = new RawNbdClient(port).greet()) {
            assertThat(c.option(STARTTLS, new byte[0]).get(0).type()).isEqualTo(ACK);
            assertThatThrownBy(() -> TlsClients.handshake(c, good)).isInstanceOf(IOException.class)
                    .hasStackTraceContaining("CertificateExpiredException");
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> lines(Level.WARN).size() == 1);
        assertThat(lines(Level.WARN).get(0)).contains(": TLS handshake failed: ");
    }

    @Test
    void verifyPeerRefusesAClientWithoutCertificate() throws Exception {
        int port = start(TlsConfig.Mode.REQUIRE, good, true);
        failsToHandshake(port, caOnly);
        await().atMost(Duration.ofSeconds(10)).until(() -> lines(Level.WARN).size() == 1);
        assertThat(lines(Level.WARN).get(0)).endsWith(": TLS handshake failed: no client certificate");
        goodClientWorks(port, good);
    }

    @Test
    void verifyPeerRefusesAClientCertificateFromAnotherCa() throws Exception {
        int port = start(TlsConfig.Mode.REQUIRE, good, true);
        failsToHandshake(port, strangerCert);
        await().atMost(Duration.ofSeconds(10)).until(() -> lines(Level.WARN).size() == 1);
        assertThat(lines(Level.WARN).get(0)).contains(": TLS handshake failed: client certificate not accepted");
    }

    @Test
    void verifyPeerMakesTheCertificatesCnTheIdentity() throws Exception {
        int port = start(TlsConfig.Mode.REQUIRE, good, true);
        try (RawNbdClient c = new RawNbdClient(port).greet(); RawNbdClient t = TlsClients.startTls(c, good)) {
            assertThat(t.go("disk").type()).isEqualTo(ACK);
            Connection conn = Connection.of(onlyChannel());
            assertThat(conn.identity()).isEqualTo("alice");
        }
        assertThat(lines(Level.INFO)).anySatisfy(l -> assertThat(l).endsWith(" identity=alice"));
    }

    @Test
    void theVerifiedCnIsTheIdentityExportRulesSee() throws Exception {
        Path bob = TestPki.run(pki.resolve("bob"), List.of("--client", "bob", "--ca-from", good.toString()));
        server = TestServers.start(ServerConfig.defaults(List.of(new InetSocketAddress("127.0.0.1", 0)))
                .withTls(new TlsConfig(TlsConfig.Mode.REQUIRE, good, true)),
                TestServers.export("disk", new MemoryBlockStore(1 << 20), false),
                Export.builder("secret", new MemoryBlockStore(1 << 20)).description("for alice")
                        .access(AccessRules.of(List.of(AccessRules.parseForExport("cn:alice")))).build());
        int port = server.port();
        try (RawNbdClient c = new RawNbdClient(port).greet(); RawNbdClient t = TlsClients.startTls(c, bob)) {
            assertThat(t.option(NbdOption.LIST.code(), new byte[0])).hasSize(2); // disk, ACK: no secret
            assertThat(t.go("secret").type()).isEqualTo(NbdReplyType.ERR_POLICY.code());
        }
        try (RawNbdClient c = new RawNbdClient(port).greet(); RawNbdClient t = TlsClients.startTls(c, good)) {
            assertThat(t.option(NbdOption.LIST.code(), new byte[0])).hasSize(3);
            assertThat(t.go("secret").type()).isEqualTo(ACK);
        }
    }

    /** The handshake, or the first option after it (TLS 1.3 reports a refused client certificate late), fails. */
    private static void failsToHandshake(int port, Path dir) throws IOException {
        try (RawNbdClient c = new RawNbdClient(port).greet()) {
            assertThat(c.option(STARTTLS, new byte[0]).get(0).type()).isEqualTo(ACK);
            assertThatThrownBy(() -> TlsClients.handshake(c, dir).option(NbdOption.LIST.code(), new byte[0]))
                    .isInstanceOf(IOException.class);
        }
    }

    private static void goodClientWorks(int port, Path dir) throws IOException {
        try (RawNbdClient c = new RawNbdClient(port).greet(); RawNbdClient t = TlsClients.startTls(c, dir)) {
            assertThat(t.go("disk").type()).isEqualTo(ACK);
        }
    }

    private Channel onlyChannel() {
        await().atMost(Duration.ofSeconds(10)).until(() -> server.context().channels().size() == 1);
        return server.context().channels().iterator().next();
    }

    private long connectionId() {
        return Objects.requireNonNull(Connection.of(onlyChannel())).id();
    }

    private static String peer(RawNbdClient c) {
        return String.valueOf(new InetSocketAddress(c.socket.getLocalAddress(), c.socket.getLocalPort()));
    }
}
