package dev.rbd.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rbd.protocol.RbdVersion;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import picocli.CommandLine;

/** The shape every rbd-cli command shares: --version, the URI mixin, the size converter's messages. */
class CommandLineTest {
    private static final Set<String> TAKE_AN_EXPORT_URI = Set.of("info", "map", "read", "write", "flush", "trim",
            "zero", "bench");

    private final StringWriter out = new StringWriter();
    private final StringWriter err = new StringWriter();

    private int run(String... args) {
        CommandLine cl = RbdCli.commandLine(args);
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        return cl.execute(args);
    }

    @ParameterizedTest
    @ValueSource(strings = {"--version", "-V", "info --version", "list --version", "map --version",
        "read --version", "write --version", "copy --version", "flush --version", "trim --version", "zero --version",
        "bench --version"})
    void everyCommandPrintsTheProjectVersion(String line) {
        assertThat(run(line.split(" "))).as(line).isZero();
        assertThat(out.toString()).matches("rbd-cli \\d+\\.\\d+\\.\\d+(-SNAPSHOT)?\n")
                .isEqualTo("rbd-cli " + RbdVersion.version() + "\n");
        assertThat(err.toString()).isEmpty();
    }

    @Test
    void everySubcommandHasTheVersionOption() {
        RbdCli.commandLine().getSubcommands().forEach((name, sub) -> {
            assertThat(sub.getCommandSpec().versionProvider()).as(name).isInstanceOf(RbdCliVersion.class);
            assertThat(sub.getCommandSpec().findOption("--version")).as(name).isNotNull();
        });
    }

    @Test
    void theCommandsOnOneExportShareTheUriMixin() {
        RbdCli.commandLine().getSubcommands().forEach((name, sub) -> {
            boolean mixed = sub.getCommandSpec().mixins().values().stream()
                    .anyMatch(m -> m.userObject() instanceof ExportUri);
            assertThat(mixed).as(name).isEqualTo(TAKE_AN_EXPORT_URI.contains(name));
        });
    }

    @Test
    void aCommandLineForOneCommandBuildsThatCommandAlone() {
        assertThat(RbdCli.commandLine("info", "nbd://127.0.0.1/disk").getSubcommands()).containsOnlyKeys("info");
        assertThat(RbdCli.commandLine("bench", "--help").getSubcommands()).containsOnlyKeys("bench");
        assertThat(RbdCli.commandLine("--version").getSubcommands()).isEmpty();
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "--help", "-h", "--version info", "nosuch", "INFO"})
    void aCommandLineWithoutAKnownCommandFirstBuildsAllInHelpOrder(String line) {
        String[] args = line.isEmpty() ? new String[0] : line.split(" ");
        assertThat(List.copyOf(RbdCli.commandLine(args).getSubcommands().keySet())).as(line)
                .containsExactly("info", "list", "map", "read", "write", "copy", "flush", "trim", "zero", "bench");
    }

    @ParameterizedTest
    @ValueSource(strings = {"info --help", "bench --help", "copy", "info", "--help", "list --nosuch"})
    void aCommandLineForOneCommandSaysWhatTheFullOneSays(String line) {
        String[] args = line.split(" ");
        List<String> lazy = outcome(RbdCli.commandLine(args), args);
        assertThat(lazy).as(line).isEqualTo(outcome(RbdCli.commandLine(), args));
        assertThat(lazy.get(1)).as(line).isNotEmpty();
    }

    /** The exit status, stdout and stderr of running {@code args} on {@code cl}. */
    private static List<String> outcome(CommandLine cl, String... args) {
        StringWriter o = new StringWriter();
        StringWriter e = new StringWriter();
        cl.setOut(new PrintWriter(o, true));
        cl.setErr(new PrintWriter(e, true));
        int status = cl.execute(args);
        return List.of(String.valueOf(status), o + "" + e);
    }

    @ParameterizedTest
    @ValueSource(strings = {"read nbd://127.0.0.1/disk --length 4q|--length|not a size: '4q'",
        "write nbd://127.0.0.1/disk --offset 1.5G|--offset|not a size: '1.5G'",
        "zero nbd://127.0.0.1/disk --offset 0 --length 8E|--length|size out of range: '8E'",
        "bench nbd://127.0.0.1/disk --bs 4kk|--bs|not a size: '4kk'"})
    void aBadSizeIsAUsageErrorWithTheSharedGrammarsMessage(String row) {
        String[] split = row.split("\\|");
        String[] words = split[0].split(" ");
        assertThat(run(words)).as(row).isEqualTo(2);
        assertThat(err.toString()).hasLineCount(1).startsWith("rbd-cli " + words[0] + ": ")
                .contains(split[1], split[2]).endsWith("(see rbd-cli " + words[0] + " --help)\n");
        assertThat(out.toString()).isEmpty();
    }
}
