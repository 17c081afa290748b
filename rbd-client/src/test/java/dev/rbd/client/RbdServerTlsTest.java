package dev.rbd.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.rbd.protocol.tls.TestPki;
import dev.rbd.server.RbdServer;
import dev.rbd.server.export.Export;
import dev.rbd.server.export.ServerConfig;
import dev.rbd.server.export.TlsConfig;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * rbd's client against rbd-server with {@code --tls require}: data, rbd's session option (fencing) and reconnects
 * all run inside TLS; a reconnect after the connection drops, or after a proxy below TLS resets it, does STARTTLS
 * and the handshake again.
 */
class RbdServerTlsTest {
    private static final ClientOptions FAST = ClientOptions.builder().reconnectWait(Duration.ofSeconds(20))
            .backoff(Duration.ofMillis(20), Duration.ofMillis(200)).quiescence(Duration.ofMillis(50)).build();

    @TempDir
    static Path pkis;
    static Path pki;
    static Path caOnly;

    @BeforeAll
    static void makeCertificates() throws Exception {
        pki = TestPki.make(pkis.resolve("pki"), "alice");
        caOnly = Files.createDirectories(pkis.resolve("ca-only"));
        Files.copy(pki.resolve("ca-cert.pem"), caOnly.resolve("ca-cert.pem"));
    }

    private static RbdServer start(ReconnectTest.DurableMemory store, boolean verifyPeer) throws Exception {
        return new RbdServer(ServerConfig.defaults(List.of(new InetSocketAddress("127.0.0.1", 0)))
                .withTls(new TlsConfig(TlsConfig.Mode.REQUIRE, pki, verifyPeer)),
                List.of(Export.builder("disk", store).description("d").build())).start();
    }

    private static String uri(RbdServer server, Path certificates) {
        return "nbds://127.0.0.1:" + server.port() + "/disk?tls-certificates=" + certificates;
    }

    private static byte[] block(int i) {
        byte[] b = new byte[4096];
        new Random(i).nextBytes(b);
        return b;
    }

    @Test
    void writesReadsAndFencesInsideTls() throws Exception {
        RbdServer server = start(new ReconnectTest.DurableMemory(), false);
        try (RbdClient c = RbdClient.connect(uri(server, pki), FAST)) {
            assertThat(c.info().fencing()).as("the rbd session option was answered inside TLS").isTrue();
            byte[] data = new byte[1 << 20];
            new Random(5).nextBytes(data);
            c.write(0, data).get(10, TimeUnit.SECONDS);
            assertThat(c.read(0, data.length).get(10, TimeUnit.SECONDS)).isEqualTo(data);
            c.flush().get(10, TimeUnit.SECONDS);
        } finally {
            server.close();
        }
    }

    @Test
    void aReconnectAfterTheServerDropsTheConnectionRunsTlsAndTheSessionAgain() throws Exception {
        RbdServer server = start(new ReconnectTest.DurableMemory(), false);
        try (RbdClient c = RbdClient.connect(uri(server, pki), FAST)) {
            CompletableFuture<?>[] writes = new CompletableFuture<?>[200];
            for (int i = 0; i < writes.length; i++) {
                writes[i] = c.write((i % 32) * 4096L, block(i));
                if (i == 100) {
                    server.context().channels().close();
                }
            }
            CompletableFuture.allOf(writes).get(30, TimeUnit.SECONDS);
            assertThat(c.reconnects()).isGreaterThanOrEqualTo(1);
            assertThat(c.replayed()).as("requests caught by the drop were sent again").isPositive();
            assertThat(c.info().fencing()).isTrue();
            for (int b = 0; b < 32; b++) {
                int last = b < 200 % 32 ? 192 + b : 160 + b; // the last i < 200 with i % 32 == b
                assertThat(java.util.Arrays.equals(c.read(b * 4096L, 4096).get(10, TimeUnit.SECONDS), block(last)))
                        .as("block %d holds write %d", b, last).isTrue();
            }
        } finally {
            server.close();
        }
    }

    @Test
    void aReconnectThroughAProxyBelowTlsRunsTlsAgain() throws Exception {
        RbdServer server = start(new ReconnectTest.DurableMemory(), false);
        try (FaultProxy proxy = FaultProxy.start(new InetSocketAddress("127.0.0.1", server.port()));
             RbdClient c = RbdClient.connect("nbds://127.0.0.1:" + proxy.port() + "/disk?tls-certificates=" + pki,
                     FAST)) {
            c.write(0, block(1)).get(10, TimeUnit.SECONDS);
            proxy.link(0, Duration.ofSeconds(5)).reset();
            c.write(4096, block(2)).get(20, TimeUnit.SECONDS);
            assertThat(c.reconnects()).isGreaterThanOrEqualTo(1);
            assertThat(c.info().fencing()).isTrue();
            assertThat(c.read(0, 8192).get(10, TimeUnit.SECONDS)).startsWith(block(1)).endsWith(block(2));
            assertThat(proxy.link(1, Duration.ofSeconds(5)).bytesUp()).isPositive();
        } finally {
            server.close();
        }
    }

    @Test
    void clientCertificatesUnderVerifyPeer() throws Exception {
        RbdServer server = start(new ReconnectTest.DurableMemory(), true);
        try {
            try (RbdClient c = RbdClient.connect(uri(server, pki), FAST)) {
                c.write(0, block(3)).get(10, TimeUnit.SECONDS);
                assertThat(c.read(0, 4096).get(10, TimeUnit.SECONDS)).isEqualTo(block(3));
            }
            assertThatThrownBy(() -> RbdClient.connect(uri(server, caOnly), FAST))
                    .isInstanceOf(TlsFailedException.class)
                    .hasMessageContaining("TLS handshake failed");
        } finally {
            server.close();
        }
    }

    @Test
    void plaintextAgainstRequireSaysUseNbds() throws Exception {
        RbdServer server = start(new ReconnectTest.DurableMemory(), false);
        try {
            assertThatThrownBy(() -> RbdClient.connect("nbd://127.0.0.1:" + server.port() + "/disk", FAST))
                    .isInstanceOf(TlsFailedException.class)
                    .hasMessageContaining("server requires TLS; use nbds://");
        } finally {
            server.close();
        }
    }
}
