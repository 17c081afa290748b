package dev.rbd.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.rbd.protocol.tls.TestPki;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The client's TLS against a real TLS NBD server, nbdkit {@code --tls=require}, with certificates made by
 * {@code scripts/make-pki.sh}: the good case, each way a certificate can be wrong, and plaintext against TLS.
 */
class NbdkitTlsTest {
    @TempDir
    static Path pkis;
    /** CA, server certificate for localhost/127.0.0.1/::1, client certificate for "alice". */
    static Path pki;
    /** Only the CA certificate of {@link #pki}: a client without a certificate of its own. */
    static Path caOnly;
    /** Another CA, nothing in common with {@link #pki}. */
    static Path otherCa;
    /** A server certificate from {@link #pki}'s CA for wrong.example only. */
    static Path wrongName;
    /** Server certificate from {@link #pki}'s CA, expired. */
    static Path expired;

    @TempDir
    Path dir;

    @BeforeAll
    static void makeCertificates() throws Exception {
        Nbdkit.requireNbdkit();
        pki = TestPki.make(pkis.resolve("pki"), "alice");
        caOnly = Files.createDirectories(pkis.resolve("ca-only"));
        Files.copy(pki.resolve("ca-cert.pem"), caOnly.resolve("ca-cert.pem"));
        otherCa = TestPki.make(pkis.resolve("other"), null);
        wrongName = TestPki.run(pkis.resolve("wrong-name"), List.of("--server-name", "wrong.example", "--ca-from",
                pki.toString()));
        expired = TestPki.run(pkis.resolve("expired"), List.of("--expired", "--ca-from", pki.toString()));
    }

    private static List<String> require(Path certificates, String... more) {
        List<String> o = new java.util.ArrayList<>(List.of("--tls=require", "--tls-certificates=" + certificates));
        o.addAll(List.of(more));
        return o;
    }

    private static ClientOptions options() {
        return ClientOptions.builder().connectTimeout(Duration.ofSeconds(10)).reconnectWait(Duration.ZERO).build();
    }

    @Test
    void writesReadsAndFlushesOverTls() throws Exception {
        try (Nbdkit k = Nbdkit.tcp(dir, require(pki));
             RbdClient c = RbdClient.connect("nbds://127.0.0.1:" + k.port + "/?tls-certificates=" + pki, options())) {
            exercise(c);
        }
    }

    @Test
    void checksTheServerNameAgainstLocalhostToo() throws Exception {
        try (Nbdkit k = Nbdkit.tcp(dir, require(pki));
             RbdClient c = RbdClient.connect("nbds://localhost:" + k.port + "/?tls-certificates=" + pki, options())) {
            assertThat(c.info().size()).isEqualTo(Nbdkit.SIZE);
        }
    }

    @Test
    void presentsTheClientCertificateWhenTheServerVerifiesPeers() throws Exception {
        try (Nbdkit k = Nbdkit.tcp(dir, require(pki, "--tls-verify-peer"));
             RbdClient c = RbdClient.connect("nbds://127.0.0.1:" + k.port + "/?tls-certificates=" + pki, options())) {
            exercise(c);
        }
    }

    @Test
    void failsTypedWithoutAClientCertificateWhenTheServerVerifiesPeers() throws Exception {
        try (Nbdkit k = Nbdkit.tcp(dir, require(pki, "--tls-verify-peer"))) {
            assertThatThrownBy(() -> RbdClient.connect("nbds://127.0.0.1:" + k.port + "/?tls-certificates=" + caOnly,
                    options()))
                    .isInstanceOfSatisfying(TlsFailedException.class,
                            e -> assertThat(e.reason()).isEqualTo(ConnectFailedException.Reason.TLS))
                    .hasMessageStartingWith("cannot connect to nbds://127.0.0.1:" + k.port + "/")
                    .hasMessageContaining("TLS");
        }
    }

    @Test
    void failsTypedWhenTheServersCertificateIsFromAnotherCa() throws Exception {
        try (Nbdkit k = Nbdkit.tcp(dir, require(pki))) {
            assertThatThrownBy(() -> RbdClient.connect("nbds://127.0.0.1:" + k.port + "/?tls-certificates=" + otherCa,
                    options()))
                    .isInstanceOf(TlsFailedException.class)
                    .hasMessageContaining("TLS handshake failed: certificate not trusted")
                    .satisfies(e -> assertThat(e.getMessage()).doesNotContain("\n"));
        }
    }

    @Test
    void connectsToAnUntrustedServerWithTlsVerifyPeerFalse() throws Exception {
        try (Nbdkit k = Nbdkit.tcp(dir, require(pki));
             RbdClient c = RbdClient.connect("nbds://127.0.0.1:" + k.port + "/?tls-certificates=" + otherCa
                     + "&tls-verify-peer=false", options())) {
            exercise(c);
        }
    }

    @Test
    void failsTypedWhenTheServersNameDoesNotMatch() throws Exception {
        try (Nbdkit k = Nbdkit.tcp(dir, require(wrongName))) {
            assertThatThrownBy(() -> RbdClient.connect("nbds://127.0.0.1:" + k.port + "/?tls-certificates="
                    + wrongName, options()))
                    .isInstanceOf(TlsFailedException.class)
                    .hasMessageContaining("name does not match");
            // the name the certificate carries, asked for explicitly: the chain is fine, so it connects
            try (RbdClient c = RbdClient.connect("nbds://127.0.0.1:" + k.port + "/?tls-certificates=" + wrongName
                    + "&tls-hostname=wrong.example", options())) {
                assertThat(c.info().size()).isEqualTo(Nbdkit.SIZE);
            }
        }
    }

    @Test
    void failsTypedWhenTheServersCertificateExpired() throws Exception {
        try (Nbdkit k = Nbdkit.tcp(dir, require(expired))) {
            assertThatThrownBy(() -> RbdClient.connect("nbds://127.0.0.1:" + k.port + "/?tls-certificates=" + expired,
                    options()))
                    .isInstanceOf(TlsFailedException.class)
                    .hasMessageContaining("expired");
        }
    }

    @Test
    void plaintextAndTlsBothWorkAgainstTlsOn() throws Exception {
        try (Nbdkit k = Nbdkit.tcp(dir, List.of("--tls=on", "--tls-certificates=" + pki))) {
            try (RbdClient c = RbdClient.connect("nbd://127.0.0.1:" + k.port + "/", options())) {
                exercise(c);
            }
            try (RbdClient c = RbdClient.connect("nbds://127.0.0.1:" + k.port + "/?tls-certificates=" + pki,
                    options())) {
                exercise(c);
            }
        }
    }

    @Test
    void plaintextAgainstTlsRequireSaysTlsIsRequired() throws Exception {
        try (Nbdkit k = Nbdkit.tcp(dir, require(pki))) {
            assertThatThrownBy(() -> RbdClient.connect("nbd://127.0.0.1:" + k.port + "/", options()))
                    .isInstanceOf(TlsFailedException.class)
                    .hasMessageContaining("server requires TLS; use nbds://");
            assertThatThrownBy(() -> RbdClient.listExports("nbd://127.0.0.1:" + k.port + "/", options()))
                    .isInstanceOf(TlsFailedException.class)
                    .hasMessageContaining("server requires TLS; use nbds://");
        }
    }

    @Test
    void listsExportsOverTls() throws Exception {
        try (Nbdkit k = Nbdkit.tcp(dir, require(pki))) {
            assertThat(RbdClient.listExports("nbds://127.0.0.1:" + k.port + "/?tls-certificates=" + pki, options()))
                    .isNotEmpty();
        }
    }

    @Test
    void verifiesTheChainButNoNameOverAUnixSocket() throws Exception {
        Path socket = dir.resolve("nbdkit.sock");
        try (Nbdkit k = Nbdkit.unix(dir, socket, require(wrongName));
             RbdClient c = RbdClient.connect("nbds+unix:///?socket=" + socket + "&tls-certificates=" + wrongName,
                     options())) {
            exercise(c);
        }
        Path other = dir.resolve("other.sock");
        try (Nbdkit k = Nbdkit.unix(dir, other, require(pki))) {
            assertThatThrownBy(() -> RbdClient.connect("nbds+unix:///?socket=" + other + "&tls-certificates="
                    + otherCa, options()))
                    .isInstanceOf(TlsFailedException.class)
                    .hasMessageContaining("not trusted");
            // with tls-hostname there is a name to check, over a Unix socket too
            try (RbdClient c = RbdClient.connect("nbds+unix:///?socket=" + other + "&tls-certificates=" + pki
                    + "&tls-hostname=localhost", options())) {
                assertThat(c.info().size()).isEqualTo(Nbdkit.SIZE);
            }
            assertThatThrownBy(() -> RbdClient.connect("nbds+unix:///?socket=" + other + "&tls-certificates=" + pki
                    + "&tls-hostname=disk.example", options()))
                    .isInstanceOf(TlsFailedException.class)
                    .hasMessageContaining("name does not match");
        }
    }

    @Test
    void tlsFromTheOptionsAppliesToAPlainUriAndGivesAnNbdsUriItsDirectory() throws Exception {
        try (Nbdkit k = Nbdkit.tcp(dir, require(pki))) {
            ClientOptions withTls = options().toBuilder().tls(TlsSettings.of(pki)).build();
            try (RbdClient c = RbdClient.connect("nbd://127.0.0.1:" + k.port + "/", withTls)) {
                assertThat(c.info().size()).isEqualTo(Nbdkit.SIZE);
            }
            try (RbdClient c = RbdClient.connect("nbds://127.0.0.1:" + k.port + "/", withTls)) {
                assertThat(c.info().size()).isEqualTo(Nbdkit.SIZE);
            }
            // the URI's own directory wins over the options'
            assertThatThrownBy(() -> RbdClient.connect("nbds://127.0.0.1:" + k.port + "/?tls-certificates=" + otherCa,
                    withTls)).isInstanceOf(TlsFailedException.class).hasMessageContaining("not trusted");
        }
    }

    @Test
    void withoutTlsCertificatesLibnbdsDefaultDirectoriesAreUsed() throws Exception {
        String home = System.getProperty("user.home");
        Path fakeHome = Files.createDirectories(dir.resolve("home"));
        System.setProperty("user.home", fakeHome.toString());
        try (Nbdkit k = Nbdkit.tcp(dir, require(pki))) {
            String uri = "nbds://127.0.0.1:" + k.port + "/";
            if ("root".equals(System.getProperty("user.name"))) {
                // root's default is /etc/pki/libnbd, which a test must not write: only the message is checked
                org.junit.jupiter.api.Assumptions.assumeFalse(Files.exists(Path.of("/etc/pki/libnbd/ca-cert.pem")));
                assertThatThrownBy(() -> RbdClient.connect(uri, options())).isInstanceOf(TlsFailedException.class)
                        .hasMessageContaining("no tls-certificates=DIR in the URI and no ca-cert.pem in "
                                + "/etc/pki/libnbd");
                return;
            }
            assertThatThrownBy(() -> RbdClient.connect(uri, options()))
                    .isInstanceOf(TlsFailedException.class)
                    .hasMessageContaining("no tls-certificates=DIR in the URI and no ca-cert.pem in " + fakeHome
                            + "/.pki/libnbd or " + fakeHome + "/.config/pki/libnbd");
            Path libnbd = Files.createDirectories(fakeHome.resolve(".config/pki/libnbd"));
            Files.copy(pki.resolve("ca-cert.pem"), libnbd.resolve("ca-cert.pem"));
            try (RbdClient c = RbdClient.connect(uri, options())) {
                assertThat(c.info().size()).isEqualTo(Nbdkit.SIZE);
            }
        } finally {
            System.setProperty("user.home", home);
        }
    }

    @Test
    void aReconnectAfterTheConnectionBreaksRunsTlsAgain() throws Exception {
        try (Nbdkit k = Nbdkit.tcp(dir, require(pki));
             FaultProxy proxy = FaultProxy.start(new java.net.InetSocketAddress("127.0.0.1", k.port));
             RbdClient c = RbdClient.connect("nbds://127.0.0.1:" + proxy.port() + "/?tls-certificates=" + pki,
                     ClientOptions.builder().reconnectWait(Duration.ofSeconds(20))
                             .backoff(Duration.ofMillis(20), Duration.ofMillis(200))
                             .quiescence(Duration.ofMillis(50)).build())) {
            byte[] before = new byte[64 << 10];
            new Random(1).nextBytes(before);
            c.write(0, before).join();
            // the proxy sits below TLS: a reset there breaks the TCP connection and the TLS session on it
            proxy.link(0, Duration.ofSeconds(5)).reset();
            byte[] after = new byte[64 << 10];
            new Random(2).nextBytes(after);
            c.write(1 << 20, after).join();
            assertThat(c.reconnects()).isGreaterThanOrEqualTo(1);
            assertThat(c.read(0, before.length).join()).isEqualTo(before);
            assertThat(c.read(1 << 20, after.length).join()).isEqualTo(after);
            // the new connection's first bytes after the client flags and STARTTLS were a TLS handshake: nbdkit
            // (--tls=require) answers anything else with ERR_TLS_REQD, which the client would have failed on
            assertThat(proxy.link(1, Duration.ofSeconds(5)).bytesUp()).isPositive();
        }
    }

    private static void exercise(RbdClient c) {
        assertThat(c.info().size()).isEqualTo(Nbdkit.SIZE);
        byte[] data = new byte[1 << 20];
        new Random(12).nextBytes(data);
        c.write(8192, data).join();
        assertThat(c.read(8192, data.length).join()).isEqualTo(data);
        c.flush().join();
    }
}
