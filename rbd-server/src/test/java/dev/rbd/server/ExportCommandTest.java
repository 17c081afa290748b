package dev.rbd.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.rbd.protocol.RbdVersion;
import dev.rbd.protocol.Sizes;
import dev.rbd.protocol.tls.TestPki;
import dev.rbd.server.export.AccessRules;
import dev.rbd.server.export.BlockSizes;
import dev.rbd.server.export.ExportSpec;
import dev.rbd.server.export.Limits;
import dev.rbd.server.export.SyncMode;
import dev.rbd.server.export.TlsConfig;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import picocli.CommandLine;

/** rbd-server's command line: option values, usage errors (exit 2, one line), failures (exit 1), --version. */
class ExportCommandTest {
    private final StringWriter out = new StringWriter();
    private final StringWriter err = new StringWriter();

    private int run(String... args) {
        CommandLine cl = RbdServerMain.commandLine();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        return cl.execute(args);
    }

    private static InetSocketAddress listen(String text) {
        return new ListenAddressConverter().convert(text);
    }

    @Test
    void parsesListenAddressesIncludingIpv6() {
        assertThat(listen("127.0.0.1:10900")).isEqualTo(new InetSocketAddress("127.0.0.1", 10900));
        assertThat(listen("[::1]:10901").getAddress().getHostAddress()).isEqualTo("0:0:0:0:0:0:0:1");
        assertThat(listen("[::1]:10901").getPort()).isEqualTo(10901);
        assertThat(listen("[::1]").getPort()).isEqualTo(10809);
        assertThat(listen("127.0.0.1").getPort()).isEqualTo(10809);
        assertThat(listen(":10902").getPort()).isEqualTo(10902);
        assertThat(listen(":10902").getAddress().isAnyLocalAddress()).isTrue();
        assertThatThrownBy(() -> listen("[::1:10901")).hasMessageContaining("[IPv6]");
        assertThatThrownBy(() -> listen("[::1]10901")).hasMessageContaining("[IPv6]");
        assertThatThrownBy(() -> listen("127.0.0.1:65536")).hasMessageContaining("bad port");
        assertThatThrownBy(() -> listen("127.0.0.1:-1")).hasMessageContaining("bad port");
    }

    @Test
    void parsesSizes() {
        assertThat(Sizes.parse("4096")).isEqualTo(4096);
        assertThat(Sizes.parse("4k")).isEqualTo(4096);
        assertThat(Sizes.parse("512M")).isEqualTo(512L << 20);
        assertThat(Sizes.parse("4G")).isEqualTo(4L << 30);
        assertThat(Sizes.parse("1TiB")).isEqualTo(1L << 40);
        assertThatThrownBy(() -> Sizes.parse("4x")).hasMessageContaining("not a size");
        assertThatThrownBy(() -> Sizes.parse("99999999E")).hasMessageContaining("out of range");
    }

    @Test
    void aGoodCommandLineYieldsTheValuesAsked(@TempDir Path dir) {
        CommandLine cl = RbdServerMain.commandLine();
        cl.parseArgs("export", dir.resolve("a.img").toString(), "--sync", "FLUSH", "--listen", "[::1]:10809",
                "--listen", "127.0.0.1:0", "--create", "4G", "--min-block-size", "4KiB", "--max-payload", "1m",
                "--handshake-timeout", "3", "--session-grace", "0", "--max-connections", "10",
                "--max-connections-per-address", "3", "--idle-timeout", "5m", "--stall-timeout", "500ms",
                "--allow", "10.0.0.0/8", "--allow", "uid:1000");
        ExportCommand export = cl.getSubcommands().get("export").getCommand();
        assertThat(export.sync).isEqualTo(SyncMode.FLUSH);
        assertThat(export.listen).containsExactly(new InetSocketAddress("::1", 10809),
                new InetSocketAddress("127.0.0.1", 0));
        assertThat(export.create).isEqualTo(4L << 30);
        assertThat(export.blockSizes()).isEqualTo(new BlockSizes(4096, 4096, 1 << 20));
        assertThat(export.handshakeTimeout).isEqualTo(Duration.ofSeconds(3));
        assertThat(export.sessionGrace).isZero();
        assertThat(export.limits()).isEqualTo(new Limits(10, 3, Duration.ofMinutes(5), Duration.ofMillis(500)));
        assertThat(export.access().rules()).containsExactly(AccessRules.parse("10.0.0.0/8"),
                AccessRules.parse("uid:1000"));
    }

    @Test
    void theDefaultsAreThoseDocumented(@TempDir Path dir) {
        CommandLine cl = RbdServerMain.commandLine();
        cl.parseArgs("export", dir.resolve("a.img").toString());
        ExportCommand export = cl.getSubcommands().get("export").getCommand();
        assertThat(export.sync).isEqualTo(SyncMode.ALWAYS);
        assertThat(export.listen).isEmpty();
        assertThat(export.create).isNull();
        assertThat(export.blockSizes()).isEqualTo(BlockSizes.DEFAULT);
        assertThat(export.blockSizes().maxPayload()).as("as nbdkit: 64 MiB").isEqualTo(64 << 20);
        assertThat(export.handshakeTimeout).isEqualTo(Duration.ofSeconds(10));
        assertThat(export.sessionGrace).isEqualTo(Duration.ofSeconds(60));
        assertThat(export.limits()).isEqualTo(Limits.DEFAULT);
        assertThat(export.limits()).isEqualTo(new Limits(256, 64, Duration.ZERO, Duration.ofSeconds(60)));
        assertThat(export.access()).isSameAs(AccessRules.OPEN);
    }

    @Test
    void durationsTakeAUnitOrBareSeconds() {
        DurationConverter d = new DurationConverter();
        assertThat(d.convert("10")).isEqualTo(Duration.ofSeconds(10));
        assertThat(d.convert("0")).isZero();
        assertThat(d.convert("250ms")).isEqualTo(Duration.ofMillis(250));
        assertThat(d.convert("30s")).isEqualTo(Duration.ofSeconds(30));
        assertThat(d.convert("5m")).isEqualTo(Duration.ofMinutes(5));
        assertThat(d.convert("2h")).isEqualTo(Duration.ofHours(2));
        assertThatThrownBy(() -> d.convert("off")).hasMessageContaining("not a duration: 'off'");
        assertThat(new DurationConverter.OrOff().convert("off")).isZero();
        assertThat(new DurationConverter.OrOff().convert("90s")).isEqualTo(Duration.ofSeconds(90));
        for (String bad : new String[] {"", "s", "-1", "1.5", "10d", "5 m", "10S", "1234567890"}) {
            assertThatThrownBy(() -> d.convert(bad)).as(bad).hasMessageContaining("not a duration");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "--sync maybe", "--sync=", "--create 4x", "--create -1", "--max-payload 8E", "--min-block-size 3",
        "--min-block-size 128k", "--min-block-size 4G --max-payload 4G", "--max-payload 1k",
        "--min-block-size 64k --max-payload 96k", "--listen [::1:10809", "--listen 127.0.0.1:99999",
        "--listen 127.0.0.1:http", "--handshake-timeout -1", "--handshake-timeout 10x", "--session-grace 1.5",
        "--session-grace off", "--handshake-timeout 2d", "--idle-timeout 5x", "--idle-timeout -1s",
        "--stall-timeout 1.5s", "--stall-timeout never", "--max-connections 0", "--max-overlays 0",
        "--max-connections many",
        "--max-connections-per-address 0", "--max-connections-per-address -3",
        "--io-threads 0", "--io-threads many", "--allow localhost", "--allow 10.0.0.0/33", "--allow uid:x",
        "--allow 10.0.0.1/", "--bogus", "--tls on", "--tls require", "--tls maybe", "--tls-verify-peer",
        "--tls off --tls-verify-peer", "--tls-certificates /tmp --tls-verify-peer"})
    void aBadValueIsAUsageErrorInOneLine(String options, @TempDir Path dir) {
        Path image = dir.resolve("x.img");
        List<String> args = new ArrayList<>(List.of("export", image.toString(), "--listen", "127.0.0.1:0"));
        args.addAll(List.of(options.split(" ")));
        assertThat(run(args.toArray(new String[0]))).as(options).isEqualTo(2);
        assertThat(err.toString()).as(options).hasLineCount(1).startsWith("rbd-server export: ")
                .endsWith(" (see rbd-server export --help)\n");
        assertThat(out.toString()).isEmpty();
        assertThat(image).doesNotExist();
    }

    @ParameterizedTest
    @ValueSource(strings = {",allow=", ",allow", ",allow=cn:", ",allow=localhost", ",allow=10.0.0.0/33",
        ",allow=uid:x", ",allow=::1/129", ",ro=yes", ",ro=", ",ro,ro", ",description", ",description=a,description=b",
        ",description=bell\u0007", ",description=two\nlines",  ",overlays=/tmp,ro",
        ",overlays=/tmp,clients=cn", ",overlays=temp,ro", ",overlays=",
        ",allow=::1,bogus=1", ","})
    void aBadExportOptionIsAUsageErrorInOneLine(String options, @TempDir Path dir) {
        Path image = dir.resolve("x.img");
        assertThat(run("export", "x=" + image + options, "--listen", "127.0.0.1:0", "--create", "1M")).as(options)
                .isEqualTo(2);
        assertThat(err.toString()).as(options).hasLineCount(1).startsWith("rbd-server export: ")
                .contains("export 'x'").endsWith(" (see rbd-server export --help)\n");
        assertThat(out.toString()).isEmpty();
        assertThat(image).as("nothing is created before the arguments are checked").doesNotExist();
    }

    @Test
    void overlaysTempWithReadonlyIsAUsageError(@TempDir Path dir) {
        Path image = dir.resolve("x.img");
        assertThat(run("export", "x=" + image + ",overlays=temp", "--readonly", "--listen", "127.0.0.1:0", "--create",
                "1M")).isEqualTo(2);
        assertThat(err.toString()).hasLineCount(1).contains("export 'x': overlays=temp with --readonly");
        assertThat(image).doesNotExist();
    }

    @Test
    void aBadExportOptionNamesWhatIsWrong(@TempDir Path dir) {
        String image = dir.resolve("x.img").toString();
        assertThat(run("export", "x=" + image + ",allow=10.0.0.0/8,readonly")).isEqualTo(2);
        assertThat(err.toString()).contains("export 'x'", "unknown option 'readonly'");
        err.getBuffer().setLength(0);
        assertThat(run("export", "x=" + image + ",allow=")).isEqualTo(2);
        assertThat(err.toString()).contains("allow= needs a rule");
        err.getBuffer().setLength(0);
        assertThat(run("export", image, "--allow", "cn:host42")).as("identities are per export").isEqualTo(2);
        assertThat(err.toString()).contains("--allow", "allow= option");
    }

    @Test
    void exportOptionsGiveEachExportItsRules(@TempDir Path dir) throws Exception {
        CommandLine cl = RbdServerMain.commandLine();
        cl.parseArgs("export", "root=" + dir.resolve("root.img") + ",allow=10.0.0.0/8,allow=cn:host42,allow=uid:0",
                dir.resolve("usr.img").toString(), "odd=" + dir.resolve("a,,b.img"));
        ExportCommand export = cl.getSubcommands().get("export").getCommand();
        List<ExportSpec> specs = export.exportSpecs();
        assertThat(specs).extracting(ExportSpec::name).containsExactly("root", "usr", "odd");
        assertThat(specs.get(0).path()).isEqualTo(dir.resolve("root.img"));
        assertThat(specs.get(0).access().rules()).containsExactly(AccessRules.parse("10.0.0.0/8"),
                new AccessRules.Cn("host42"), new AccessRules.Uid(0));
        assertThat(specs.get(1).access()).isSameAs(AccessRules.OPEN);
        assertThat(specs.get(2).path()).isEqualTo(dir.resolve("a,b.img"));
    }

    @Test
    void theConfigFileAddsExportsAfterTheCommandLines(@TempDir Path dir) throws Exception {
        Path config = Files.writeString(dir.resolve("exports.conf"), "[export usr]\npath = " + dir.resolve("u,1.img")
                + "\nro = true\ndescription = /usr, shared\n");
        CommandLine cl = RbdServerMain.commandLine();
        cl.parseArgs("export", "root=" + dir.resolve("root.img") + ",description=Root,, per host", "--config",
                config.toString());
        List<ExportSpec> specs = cl.getSubcommands().get("export").<ExportCommand>getCommand().exportSpecs();
        assertThat(specs).extracting(ExportSpec::name).containsExactly("root", "usr");
        assertThat(specs).extracting(ExportSpec::description).containsExactly("Root, per host", "/usr, shared");
        assertThat(specs).extracting(ExportSpec::readOnly).containsExactly(false, true);
        assertThat(specs.get(1).path()).isEqualTo(dir.resolve("u,1.img"));
        // the file alone is enough
        cl = RbdServerMain.commandLine();
        cl.parseArgs("export", "--config", config.toString());
        assertThat(cl.getSubcommands().get("export").<ExportCommand>getCommand().exportSpecs())
                .extracting(ExportSpec::name).containsExactly("usr");
    }

    @Test
    void aBadConfigFileIsAUsageErrorNamingItsLine(@TempDir Path dir) throws Exception {
        Path image = dir.resolve("x.img");
        Path config = Files.writeString(dir.resolve("exports.conf"), "# exports\n[export x]\npath = " + image
                + "\nro = yes\n");
        assertThat(run("export", "--config", config.toString(), "--create", "1M", "--listen", "127.0.0.1:0"))
                .isEqualTo(2);
        assertThat(err.toString()).isEqualTo("rbd-server export: --config " + config + ":4: export 'x': ro = yes "
                + "(expected: true or false) (see rbd-server export --help)\n");
        assertThat(out.toString()).isEmpty();
        assertThat(image).as("nothing is created before the arguments are checked").doesNotExist();
    }

    @Test
    void twoExportsOfOneNameAreAUsageError(@TempDir Path dir) throws Exception {
        Path image = dir.resolve("x.img");
        Path config = Files.writeString(dir.resolve("exports.conf"), "[export x]\npath = " + image + "\n");
        assertThat(run("export", "x=" + image, "--config", config.toString(), "--create", "1M")).isEqualTo(2);
        assertThat(err.toString()).hasLineCount(1).contains("export 'x' is named both on the command line and in "
                + config);
        err.getBuffer().setLength(0);
        assertThat(run("export", "x=" + image, dir.resolve("x.raw").toString(), "--create", "1M")).isEqualTo(2);
        assertThat(err.toString()).hasLineCount(1).contains("two exports are named 'x'");
        err.getBuffer().setLength(0);
        Files.writeString(config, "[export x]\npath = " + image + "\n[export x]\npath = " + image + "\n");
        assertThat(run("export", "--config", config.toString(), "--create", "1M")).isEqualTo(2);
        assertThat(err.toString()).hasLineCount(1).contains(config + ":3: export 'x' is already named at line 1");
        assertThat(image).doesNotExist();
    }

    @Test
    void noExportIsAUsageError(@TempDir Path dir) throws Exception {
        assertThat(run("export", "--listen", "127.0.0.1:0")).isEqualTo(2);
        assertThat(err.toString()).isEqualTo("rbd-server export: no export: name an [NAME=]IMAGE or give "
                + "--config FILE (see rbd-server export --help)\n");
        err.getBuffer().setLength(0);
        Path config = Files.writeString(dir.resolve("exports.conf"), "# none yet\n");
        assertThat(run("export", "--config", config.toString(), "--listen", "127.0.0.1:0")).isEqualTo(2);
        assertThat(err.toString()).hasLineCount(1).contains("no export: " + config + " holds no [export NAME]");
    }

    @Test
    void aConfigFileThatCannotBeReadFailsInOneLine(@TempDir Path dir) {
        Path missing = dir.resolve("missing.conf");
        assertThat(run("export", "--config", missing.toString(), "--listen", "127.0.0.1:0")).isEqualTo(1);
        assertThat(err.toString()).isEqualTo("rbd-server export: " + missing + ": no such file\n");
        err.getBuffer().setLength(0);
        assertThat(run("export", "--config", dir.toString(), "--listen", "127.0.0.1:0")).isEqualTo(1);
        assertThat(err.toString()).hasLineCount(1).startsWith("rbd-server export: " + dir + ": cannot be read");
    }

    @Test
    void aBadValueNamesWhatIsWrong(@TempDir Path dir) {
        String image = dir.resolve("x.img").toString();
        assertThat(run("export", image, "--sync", "maybe")).isEqualTo(2);
        assertThat(err.toString()).contains("--sync", "maybe", "ALWAYS", "FLUSH");
        err.getBuffer().setLength(0);
        assertThat(run("export", image, "--create", "4x")).isEqualTo(2);
        assertThat(err.toString()).contains("--create", "not a size: '4x'");
        err.getBuffer().setLength(0);
        assertThat(run("export", image, "--listen", "127.0.0.1:99999")).isEqualTo(2);
        assertThat(err.toString()).contains("--listen", "bad port in '127.0.0.1:99999'");
        err.getBuffer().setLength(0);
        assertThat(run("export", image, "--min-block-size", "64k", "--max-payload", "96k")).isEqualTo(2);
        assertThat(err.toString()).contains("--min-block-size 64k with --max-payload 96k", "maxPayload");
        err.getBuffer().setLength(0);
        assertThat(run("export", image, "--idle-timeout", "5x")).isEqualTo(2);
        assertThat(err.toString()).contains("--idle-timeout", "not a duration: '5x'", "off, 10, 500ms");
        err.getBuffer().setLength(0);
        assertThat(run("export", image, "--max-connections", "0")).isEqualTo(2);
        assertThat(err.toString()).contains("--max-connections 0 (expected: at least 1)");
    }

    @Test
    void theTlsOptionsGoTogether(@TempDir Path dir) {
        CommandLine cl = RbdServerMain.commandLine();
        cl.parseArgs("export", dir.resolve("a.img").toString(), "--tls", "require", "--tls-certificates",
                dir.toString(), "--tls-verify-peer");
        ExportCommand export = cl.getSubcommands().get("export").getCommand();
        assertThat(export.tlsConfig()).isEqualTo(new TlsConfig(TlsConfig.Mode.REQUIRE, dir, true));
        cl = RbdServerMain.commandLine();
        cl.parseArgs("export", dir.resolve("a.img").toString());
        assertThat(cl.getSubcommands().get("export").<ExportCommand>getCommand().tlsConfig()).isSameAs(TlsConfig.OFF);
    }

    @Test
    void aTlsRequireWithoutCertificatesSaysWhatIsMissing(@TempDir Path dir) {
        assertThat(run("export", dir.resolve("x.img").toString(), "--tls", "require")).isEqualTo(2);
        assertThat(err.toString()).isEqualTo("rbd-server export: --tls require needs --tls-certificates DIR "
                + "(see rbd-server export --help)\n");
    }

    @Test
    void aBadCertificateDirectoryFailsStartUpInOneLine(@TempDir Path dir) throws Exception {
        Path pki = Files.createDirectories(dir.resolve("pki"));
        String image = dir.resolve("x.img").toString();
        assertThat(run("export", image, "--create", "1M", "--listen", "127.0.0.1:0", "--tls", "on",
                "--tls-certificates", pki.toString())).isEqualTo(1);
        assertThat(err.toString()).hasLineCount(1)
                .isEqualTo("rbd-server export: " + pki.resolve("server-cert.pem") + ": no such file\n");
        err.getBuffer().setLength(0);
        TestPki.make(pki, null);
        Files.writeString(pki.resolve("server-key.pem"), "-----BEGIN PRIVATE KEY-----\nnot a key\n"
                + "-----END PRIVATE KEY-----\n");
        assertThat(run("export", image, "--listen", "127.0.0.1:0", "--tls", "require", "--tls-certificates",
                pki.toString())).isEqualTo(1);
        assertThat(err.toString()).hasLineCount(1)
                .startsWith("rbd-server export: " + pki.resolve("server-key.pem") + ": not a PEM private key");
        err.getBuffer().setLength(0);
        Files.delete(pki.resolve("ca-cert.pem"));
        TestPki.make(dir.resolve("pki2"), null);
        Files.copy(dir.resolve("pki2/server-key.pem"), pki.resolve("server-key.pem"),
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        assertThat(run("export", image, "--listen", "127.0.0.1:0", "--tls", "require", "--tls-certificates",
                pki.toString(), "--tls-verify-peer")).isEqualTo(1);
        assertThat(err.toString()).isEqualTo("rbd-server export: " + pki.resolve("ca-cert.pem") + ": no such file\n");
    }

    @Test
    void missingImageWithoutCreateIsAClearError() {
        int code = run("export", "/nonexistent/dir/x.img", "--listen", "127.0.0.1:0");
        assertThat(code).isEqualTo(1);
        assertThat(err.toString()).contains("x.img").contains("--create").hasLineCount(1)
                .startsWith("rbd-server export: ");
    }

    @Test
    void unknownOptionIsAUsageError() {
        assertThat(run("export", "--bogus", "x.img")).isEqualTo(2);
        assertThat(err.toString()).contains("--bogus");
    }

    @Test
    void noCommandIsAUsageError() {
        assertThat(run()).isEqualTo(2);
        assertThat(err.toString()).isEqualTo("rbd-server: missing command (export, overlays) (see rbd-server --help)\n");
    }

    @ParameterizedTest
    @ValueSource(strings = {"--version", "export --version", "export -V"})
    void everyCommandPrintsTheProjectVersion(String line) {
        assertThat(run(line.split(" "))).isZero();
        assertThat(out.toString()).matches("rbd-server \\d+\\.\\d+\\.\\d+(-SNAPSHOT)?\n")
                .isEqualTo("rbd-server " + RbdVersion.version() + "\n");
        assertThat(err.toString()).isEmpty();
    }

    @Test
    void everySubcommandHasTheVersionOption() {
        CommandLine cl = RbdServerMain.commandLine();
        cl.getSubcommands().values().forEach(sub -> assertThat(sub.getCommandSpec().versionProvider())
                .as(sub.getCommandName()).isInstanceOf(RbdServerVersion.class));
    }
}
