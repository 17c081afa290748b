package dev.rbd.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rbd.server.store.MemoryBlockStore;
import io.netty.buffer.ByteBuf;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** What users get wrong, and what goes wrong: one line that says what, exit 1 for failures and 2 for usage. */
class BadInputTest {
    private CliHarness cli;

    @AfterEach
    void stop() {
        if (cli != null) {
            cli.close();
        }
    }

    private static String[] args(String command, String uri, String... options) {
        List<String> args = new ArrayList<>(List.of(command, uri));
        args.addAll(List.of(options));
        return args.toArray(new String[0]);
    }

    /** Options that make each command valid, so only the URI or the server can be wrong. */
    private static String[] validOptions(String command) {
        return switch (command) {
            case "read", "trim", "zero" -> new String[] {"--offset", "0", "--length", "4k"};
            default -> new String[0];
        };
    }

    private String oneLine(String command) {
        assertThat(cli.out.toString()).isEmpty();
        assertThat(cli.bytes.toByteArray()).isEmpty();
        String err = cli.err.toString();
        assertThat(err).hasLineCount(1).startsWith("rbd-cli " + command + ": ");
        return err;
    }

    @ParameterizedTest
    @ValueSource(strings = {"info", "list", "read", "write", "flush", "trim", "zero"})
    void aPortNobodyListensOnIsConnectionRefused(String command) {
        cli = new CliHarness();
        String uri = "nbd://127.0.0.1:" + CliHarness.freePort() + "/x";
        long start = System.nanoTime();
        assertThat(cli.run(args(command, uri, validOptions(command)))).isEqualTo(1);
        assertThat(oneLine(command)).isEqualTo("rbd-cli " + command + ": cannot connect to " + uri
                + ": connection refused\n");
        assertThat(System.nanoTime() - start).as("fails fast").isLessThan(5_000_000_000L);
    }

    @ParameterizedTest
    @ValueSource(strings = {"info", "read", "write", "flush", "trim", "zero"})
    void aMissingExportIsUnknown(String command) {
        cli = new CliHarness();
        assertThat(cli.run(args(command, cli.uri("nope"), validOptions(command)))).isEqualTo(1);
        assertThat(oneLine(command)).contains("export 'nope'", "unknown export");
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "read --offset 5G --length 4k|offset 5G + length 4k is past the end of the export (size 8M)",
        "read --offset 8M --length 1|offset 8M + length 1 is past the end of the export (size 8M)",
        "read --offset 4k --length 8M|offset 4k + length 8M is past the end of the export (size 8M)",
        "read --offset 9M|offset 9M + length 0 is past the end of the export (size 8M)",
        "read --offset 1 --length 8388607T|offset 1 + length 8388607T is past the end of the export (size 8M)",
        "trim --offset 8M --length 4k|offset 8M + length 4k is past the end of the export (size 8M)",
        "zero --offset 7M --length 2M|offset 7M + length 2M is past the end of the export (size 8M)",
        "write --offset 9M|offset 9M + length 0 is past the end of the export (size 8M)"})
    void aRangePastTheEndIsRefusedBeforeSending(String row) {
        cli = new CliHarness();
        String[] split = row.split("\\|");
        String[] words = split[0].split(" ");
        String[] options = java.util.Arrays.copyOfRange(words, 1, words.length);
        assertThat(cli.run(new byte[4096], ReadCommand.CHUNK, args(words[0], cli.uri("disk"), options)))
                .isEqualTo(1);
        assertThat(oneLine(words[0])).isEqualTo("rbd-cli " + words[0] + ": " + split[1] + "\n");
        assertThat(cli.disk.allocatedPages()).isZero();
    }

    @Test
    void aFileLongerThanTheRestOfTheExportIsRefusedBeforeWritingAnyOfIt(@TempDir Path dir) throws Exception {
        cli = new CliHarness();
        Path file = dir.resolve("big.bin");
        Files.write(file, new byte[2 << 20]);
        assertThat(cli.cli("write", "disk", "-i", file.toString(), "--offset", "7M")).isEqualTo(1);
        assertThat(oneLine("write")).contains("offset 7M + length 2M is past the end of the export (size 8M)");
        assertThat(cli.disk.allocatedPages()).isZero();
    }

    @Test
    void stdinLongerThanTheRestOfTheExportFailsAtTheEnd() {
        cli = new CliHarness();
        byte[] data = new byte[(2 << 20) + 1];
        java.util.Arrays.fill(data, (byte) 7);
        assertThat(cli.run(data, 64 << 10, "write", cli.uri("disk"), "--offset", "6M")).isEqualTo(1);
        assertThat(oneLine("write")).contains("the input is longer than the export", "past the end",
                "its first 2M bytes were written");
        assertThat(CliHarness.contents(cli.disk, CliHarness.SIZE - 1, 1)).containsOnly(7);
    }

    @ParameterizedTest
    @ValueSource(strings = {"write", "trim", "zero"})
    void writingToAReadOnlyExportIsRefused(String command) {
        cli = new CliHarness();
        String[] options = command.equals("write") ? new String[0] : validOptions(command);
        assertThat(cli.run(new byte[4096], ReadCommand.CHUNK, args(command, cli.uri("ro"), options))).isEqualTo(1);
        assertThat(oneLine(command)).isEqualTo("rbd-cli " + command + ": export 'ro' is read-only\n");
        assertThat(cli.ro.allocatedPages()).isZero();
    }

    @ParameterizedTest
    @ValueSource(strings = {"info", "list", "read", "write", "flush", "trim", "zero"})
    void aMalformedUriIsAUsageError(String command) {
        cli = new CliHarness();
        for (String uri : List.of("nbd://[bad", "http://127.0.0.1/disk", "nbd+unix:///disk", "disk")) {
            assertThat(cli.run(args(command, uri, validOptions(command)))).as(uri).isEqualTo(2);
            assertThat(oneLine(command)).contains("URI").endsWith("(see rbd-cli " + command + " --help)\n");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "read --offset 4q", "read --length -1", "read --offset", "trim --offset 0", "zero --length 4k",
        "write --sync=maybe", "info --nonsense", "read --retry-for 10x"})
    void badOptionsAreUsageErrors(String line) {
        cli = new CliHarness();
        String[] words = line.split(" ");
        String[] options = java.util.Arrays.copyOfRange(words, 1, words.length);
        assertThat(cli.run(args(words[0], cli.uri("disk"), options))).as(line).isEqualTo(2);
        assertThat(oneLine(words[0])).endsWith("--help)\n");
    }

    @Test
    void aMissingInputFileIsAFailure(@TempDir Path dir) {
        cli = new CliHarness();
        Path missing = dir.resolve("missing.bin");
        assertThat(cli.cli("write", "disk", "-i", missing.toString())).isEqualTo(1);
        assertThat(oneLine("write")).isEqualTo("rbd-cli write: no such file: " + missing + "\n");
    }

    /** Fails every read with an I/O error. */
    static final class FailingStore extends MemoryBlockStore {
        FailingStore() {
            super(CliHarness.SIZE);
        }

        @Override
        public void read(long offset, ByteBuf dst, int length) {
            throw new UncheckedIOException(new IOException("bad sector"));
        }
    }

    @Test
    void aServerErrorIsReportedWithItsNbdName() {
        cli = new CliHarness(new FailingStore());
        assertThat(cli.cli("read", "disk", "--length", "4k")).isEqualTo(1);
        assertThat(oneLine("read")).contains("READ at 0+4096", "EIO");
    }
}
