package dev.rbd.protocol.tls;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslProvider;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TlsDirectoryTest {
    @TempDir
    static Path tmp;
    static Path pki;

    @BeforeAll
    static void makePki() throws Exception {
        pki = TestPki.make(tmp.resolve("pki"), "host42");
    }

    @Test
    void readsTheKeysCerttoolWrites() throws IOException {
        // certtool writes RSA keys as PKCS#1 ("BEGIN RSA PRIVATE KEY"), which the JDK alone cannot read
        assertTrue(Files.readString(pki.resolve("server-key.pem")).contains("BEGIN RSA PRIVATE KEY"));
        TlsDirectory server = TlsDirectory.server(pki, true);
        assertEquals("RSA", server.key().getAlgorithm());
        assertEquals("localhost", TlsIdentity.commonName(server.chain().get(0)));
        assertEquals(1, server.ca().size());
        TlsDirectory client = TlsDirectory.client(pki, true);
        assertTrue(client.hasCertificate());
        assertEquals("host42", TlsIdentity.commonName(client.chain().get(0)));
    }

    @Test
    void readsEcKeysInSec1AndPkcs8() throws Exception {
        Path ec = Files.createDirectories(tmp.resolve("ec"));
        Process p = new ProcessBuilder("certtool", "--generate-privkey", "--key-type=ecdsa", "--outfile",
                ec.resolve("sec1.pem").toString()).redirectErrorStream(true).start();
        p.getInputStream().readAllBytes();
        assertEquals(0, p.waitFor());
        assertTrue(Files.readString(ec.resolve("sec1.pem")).contains("BEGIN EC PRIVATE KEY"));
        assertEquals("EC", TlsDirectory.privateKey(ec.resolve("sec1.pem")).getAlgorithm());
        p = new ProcessBuilder("certtool", "--generate-privkey", "--key-type=ecdsa", "--pkcs8", "--password", "",
                "--outfile", ec.resolve("pkcs8.pem").toString()).redirectErrorStream(true).start();
        p.getInputStream().readAllBytes();
        assertEquals(0, p.waitFor());
        assertTrue(Files.readString(ec.resolve("pkcs8.pem")).contains("BEGIN PRIVATE KEY"));
        assertEquals("EC", TlsDirectory.privateKey(ec.resolve("pkcs8.pem")).getAlgorithm());
    }

    @Test
    void buildsContextsWithEitherEngine() throws IOException {
        for (SslProvider provider : List.of(SslProvider.JDK, TlsProvider.choose())) {
            SslContext s = TlsContexts.server(TlsDirectory.server(pki, true), true, provider);
            assertTrue(s.isServer());
            SslContext c = TlsContexts.client(TlsDirectory.client(pki, true), true, provider);
            assertTrue(c.isClient());
        }
    }

    @Test
    void aClientWithoutCertificateIsFine() throws IOException {
        Path d = Files.createDirectories(tmp.resolve("ca-only"));
        Files.copy(pki.resolve("ca-cert.pem"), d.resolve("ca-cert.pem"));
        TlsDirectory client = TlsDirectory.client(d, true);
        assertFalse(client.hasCertificate());
        assertNotNull(TlsContexts.client(client, true, SslProvider.JDK));
    }

    @Test
    void everyProblemNamesTheFile() throws IOException {
        Path empty = Files.createDirectories(tmp.resolve("empty"));
        assertMessage(() -> TlsDirectory.server(empty, false), "server-cert.pem: no such file");
        assertMessage(() -> TlsDirectory.client(empty, true), "ca-cert.pem: no such file");
        assertMessage(() -> TlsDirectory.server(tmp.resolve("missing"), false), "missing: no such directory");

        Path halfClient = Files.createDirectories(tmp.resolve("half"));
        Files.copy(pki.resolve("client-cert.pem"), halfClient.resolve("client-cert.pem"));
        assertMessage(() -> TlsDirectory.client(halfClient, false), "client-cert.pem without client-key.pem");

        Path garbage = Files.createDirectories(tmp.resolve("garbage"));
        Files.copy(pki.resolve("server-cert.pem"), garbage.resolve("server-cert.pem"));
        Files.writeString(garbage.resolve("server-key.pem"), "not a key\n", StandardCharsets.US_ASCII);
        assertMessage(() -> TlsDirectory.server(garbage, false), "server-key.pem: holds no private key");
        Files.writeString(garbage.resolve("server-cert.pem"), "-----BEGIN CERTIFICATE-----\nAAAA\n"
                + "-----END CERTIFICATE-----\n", StandardCharsets.US_ASCII);
        assertMessage(() -> TlsDirectory.server(garbage, false), "server-cert.pem: not a PEM certificate");
    }

    @Test
    void encryptedKeysAreRefusedWithAReason() throws Exception {
        Path enc = Files.createDirectories(tmp.resolve("enc"));
        Process p = new ProcessBuilder("certtool", "--generate-privkey", "--pkcs8", "--password", "secret",
                "--outfile", enc.resolve("server-key.pem").toString()).redirectErrorStream(true).start();
        p.getInputStream().readAllBytes();
        assertEquals(0, p.waitFor());
        Files.copy(pki.resolve("server-cert.pem"), enc.resolve("server-cert.pem"));
        assertMessage(() -> TlsDirectory.server(enc, false), "server-key.pem: the private key is encrypted");
    }

    @Test
    void verifyingPeersNeedsTheCa() throws IOException {
        Path noCa = Files.createDirectories(tmp.resolve("no-ca"));
        Files.copy(pki.resolve("server-cert.pem"), noCa.resolve("server-cert.pem"));
        Files.copy(pki.resolve("server-key.pem"), noCa.resolve("server-key.pem"));
        TlsDirectory d = TlsDirectory.server(noCa, false);
        assertMessage(() -> TlsContexts.server(d, true, SslProvider.JDK), "ca-cert.pem: needed to verify client");
        assertNotNull(TlsContexts.server(d, false, SslProvider.JDK));
    }

    interface Load {
        Object run() throws IOException;
    }

    private static void assertMessage(Load load, String part) {
        IOException e = assertThrows(IOException.class, load::run);
        assertTrue(e.getMessage().contains(part), () -> "expected '" + part + "' in: " + e.getMessage());
    }
}
