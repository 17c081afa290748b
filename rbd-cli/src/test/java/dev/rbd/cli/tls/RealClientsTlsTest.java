package dev.rbd.cli.tls;

import static dev.rbd.cli.ToolRun.run;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.rbd.cli.ToolRun.Result;
import dev.rbd.cli.hostile.ServerUnderTest;
import dev.rbd.cli.hostile.Tools;
import dev.rbd.protocol.tls.TestPki;
import dev.rbd.protocol.tls.TlsDirectory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * rbd-server with {@code --tls} against the real clients: nbdinfo and nbdcopy (libnbd, GnuTLS) over
 * {@code nbds://}, qemu-img and qemu-io with {@code tls-creds-x509}; certificates made with certtool. Each server is a
 * process, ended by its pid; a missing tool skips loudly (fails under {@code CI=true}).
 */
class RealClientsTlsTest {
    private static final long SIZE = 64L << 20;

    @TempDir
    static Path dir;
    /** CA, server certificate, and a client certificate for "alice". */
    static Path pki;
    /** The same CA only: a client without a certificate. */
    static Path caOnly;
    /** Another CA with its own client certificate. */
    static Path other;
    /** pki's CA, an expired server certificate. */
    static Path expired;
    /** pki's CA, a server certificate for wrong.example only. */
    static Path wrongName;

    private final List<ServerUnderTest> servers = new ArrayList<>();

    @BeforeAll
    static void makePki() throws Exception {
        pki = TestPki.make(dir.resolve("pki"), "alice");
        other = TestPki.make(dir.resolve("other"), "mallory");
        caOnly = Files.createDirectories(dir.resolve("ca-only"));
        Files.copy(pki.resolve(TlsDirectory.CA_CERT), caOnly.resolve(TlsDirectory.CA_CERT));
        expired = TestPki.run(dir.resolve("expired"), List.of("--expired", "--ca-from", pki.toString()));
        wrongName = TestPki.run(dir.resolve("wrong-name"), List.of("--server-name", "wrong.example", "--ca-from",
                pki.toString()));
    }

    @AfterEach
    void stopServers() {
        for (ServerUnderTest s : servers) {
            try {
                s.assertLogClean();
            } finally {
                s.close();
            }
        }
    }

    private ServerUnderTest server(String name, Path certificates, String... tlsOptions) throws Exception {
        List<String> args = new ArrayList<>(List.of("disk=" + dir.resolve(name + ".img"), "--create", "64M",
                "--tls-certificates", certificates.toString()));
        args.addAll(List.of(tlsOptions));
        ServerUnderTest s = ServerUnderTest.export(dir, name, args.toArray(new String[0]));
        servers.add(s);
        return s.start();
    }

    private static String nbds(String host, ServerUnderTest s, Path certificates) {
        return "nbds://" + host + ":" + s.port() + "/disk?tls-certificates=" + certificates;
    }

    private static List<String> qemuTls(Path certificates) {
        return List.of("--object", "tls-creds-x509,id=tls0,dir=" + certificates + ",endpoint=client");
    }

    private static String qemuImage(ServerUnderTest s) {
        return "driver=nbd,host=127.0.0.1,port=" + s.port() + ",export=disk,tls-creds=tls0";
    }

    @Test
    void nbdinfoReadsTheSizeOverNbds() throws Exception {
        Tools.require("nbdinfo", "to speak nbds:// to rbd-server");
        ServerUnderTest s = server("info", pki, "--tls", "require");
        Result r = run("nbdinfo", "--json", nbds("127.0.0.1", s, pki));
        assertThat(r.exit()).as(r.output()).isZero();
        assertThat(r.output()).contains("\"export-size\": " + SIZE);
        // by name too: the certificate is for localhost as well
        assertThat(run("nbdinfo", "--size", nbds("localhost", s, pki)).output().trim()).isEqualTo(Long.toString(SIZE));
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(s.log()).contains(": TLS TLSv1."));
    }

    @Test
    void aPlaintextClientAgainstRequireFailsAndTheServerLogsNothingAlarming() throws Exception {
        Tools.require("nbdinfo", "as a plaintext client");
        ServerUnderTest s = server("plain", pki, "--tls", "require");
        Result r = run("nbdinfo", "nbd://127.0.0.1:" + s.port() + "/disk");
        assertThat(r.exit()).as(r.output()).isNotZero();
        assertThat(s.log()).doesNotContain(" WARN ").doesNotContain(" ERROR ");
        assertThat(run("nbdinfo", "--size", nbds("127.0.0.1", s, pki)).exit()).isZero();
    }

    @Test
    void qemuImgAndQemuIoWorkOverTls() throws Exception {
        Tools.require("qemu-img", "as a TLS client");
        Tools.require("qemu-io", "as a TLS client");
        ServerUnderTest s = server("qemu", pki, "--tls", "require");
        List<String> info = new ArrayList<>(List.of("qemu-img", "info"));
        info.addAll(qemuTls(pki));
        info.addAll(List.of("--image-opts", qemuImage(s)));
        Result r = run(info);
        assertThat(r.exit()).as(r.output()).isZero();
        assertThat(r.output()).contains("virtual size: 64 MiB");
        Result io = run(qemuIo(pki, s));
        assertThat(io.exit()).as(io.output()).isZero();
        assertThat(io.output()).contains("wrote 1048576/1048576").contains("read 1048576/1048576")
                .doesNotContain("Pattern verification failed");
    }

    private static List<String> qemuIo(Path certificates, ServerUnderTest s) {
        List<String> cmd = new ArrayList<>(List.of("qemu-io"));
        cmd.addAll(qemuTls(certificates));
        cmd.addAll(List.of("--image-opts", qemuImage(s), "-c", "write -P 0x5a 0 1M", "-c", "read -P 0x5a 0 1M"));
        return cmd;
    }

    @Test
    void verifyPeerTakesClientsWithACertificateOnly() throws Exception {
        Tools.require("nbdinfo", "as a TLS client");
        Tools.require("qemu-io", "as a TLS client");
        ServerUnderTest s = server("verify", pki, "--tls", "require", "--tls-verify-peer");
        Result good = run("nbdinfo", "--size", nbds("127.0.0.1", s, pki));
        assertThat(good.exit()).as(good.output()).isZero();
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(s.log()).contains(" identity=alice"));
        Result io = run(qemuIo(pki, s));
        assertThat(io.exit()).as(io.output()).isZero();
        assertThat(io.output()).contains("read 1048576/1048576");

        Result none = run("nbdinfo", "--size", nbds("127.0.0.1", s, caOnly));
        assertThat(none.exit()).as(none.output()).isNotZero();
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(s.log()).contains(": TLS handshake failed: no client certificate"));
        Result qemuNone = run(qemuIo(caOnly, s));
        assertThat(qemuNone.exit()).as(qemuNone.output()).isNotZero();
        assertThat(s.isAlive()).isTrue();
    }

    @Test
    void aClientTrustingAnotherCaFails() throws Exception {
        Tools.require("nbdinfo", "as a TLS client");
        ServerUnderTest s = server("other-ca", pki, "--tls", "require");
        Result r = run("nbdinfo", "--size", nbds("127.0.0.1", s, other));
        assertThat(r.exit()).as(r.output()).isNotZero();
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(s.log()).contains(": TLS handshake failed: "));
        assertThat(run("nbdinfo", "--size", nbds("127.0.0.1", s, pki)).exit()).as("the next good client").isZero();
    }

    @Test
    void anExpiredServerCertificateFails() throws Exception {
        Tools.require("nbdinfo", "as a TLS client");
        ServerUnderTest s = server("expired", expired, "--tls", "require");
        Result r = run("nbdinfo", "--size", nbds("127.0.0.1", s, pki));
        assertThat(r.exit()).as(r.output()).isNotZero();
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(s.log()).contains(": TLS handshake failed: "));
    }

    @Test
    void aServerNameThatDoesNotMatchFails() throws Exception {
        Tools.require("nbdinfo", "as a TLS client");
        ServerUnderTest s = server("wrong-name", wrongName, "--tls", "require");
        Result r = run("nbdinfo", "--size", nbds("localhost", s, pki));
        assertThat(r.exit()).as(r.output()).isNotZero();
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(s.log()).contains(": TLS handshake failed: "));
    }

    @Test
    void nbdcopyCopies64MibInAndOutOverNbds() throws Exception {
        Tools.require("nbdcopy", "to copy over nbds://");
        ServerUnderTest s = server("copy", pki, "--tls", "on");
        Path in = dir.resolve("copy-in.raw");
        Path out = dir.resolve("copy-out.raw");
        byte[] data = new byte[(int) SIZE];
        new Random(64).nextBytes(data);
        Files.write(in, data);
        Result up = run("nbdcopy", in.toString(), nbds("127.0.0.1", s, pki));
        assertThat(up.exit()).as(up.output()).isZero();
        Result down = run("nbdcopy", nbds("127.0.0.1", s, pki), out.toString());
        assertThat(down.exit()).as(down.output()).isZero();
        assertThat(Files.mismatch(in, out)).isEqualTo(-1L);
        Files.delete(in);
        Files.delete(out);
    }
}
