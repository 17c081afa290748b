package dev.rbd.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rbd.server.store.MemoryBlockStore;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import picocli.CommandLine;

/** info, list, read, write, flush, trim and zero against the in-process server: output, JSON, bytes, exit codes. */
class CommandsTest {
    private static final int SMALL_CHUNK = 64 << 10;

    private CliHarness cli;

    @AfterEach
    void stop() {
        if (cli != null) {
            cli.close();
        }
    }

    /** The top-level keys of a flat JSON object, in order (values here hold no nested objects). */
    private static List<String> keys(String json) {
        List<String> keys = new ArrayList<>();
        Matcher m = Pattern.compile("[{,]\"([a-z_]+)\":").matcher(json);
        while (m.find()) {
            keys.add(m.group(1));
        }
        return keys;
    }

    private static String value(String json, String key) {
        Matcher m = Pattern.compile("\"" + key + "\":(\"(?:[^\"\\\\]|\\\\.)*\"|\\[[^]]*]|[^,}]+)").matcher(json);
        assertThat(m.find()).as("%s in %s", key, json).isTrue();
        return m.group(1);
    }

    private static byte[] random(int n, long seed) {
        byte[] b = new byte[n];
        new SplittableRandom(seed).nextBytes(b);
        return b;
    }

    @Test
    void infoPrintsWhatTheServerAdvertisedLikeNbdinfo() {
        cli = new CliHarness();
        assertThat(cli.cli("info", "disk")).as(cli.err.toString()).isZero();
        assertThat(cli.out.toString()).contains("export=\"disk\":", "\tdescription: scratch disk",
                "\turi: " + cli.uri("disk"), "\texport-size: 8388608 (8M)", "\tis_read_only: false",
                "\tblock_size_minimum: 1", "\tblock_size_preferred: 4096", "\tblock_size_maximum: 67108864",
                "\ttransmission_flags: send_flush send_fua send_trim send_write_zeroes",
                "\tcan_multi_conn: true", "\tacks: durable\n", "\tfencing: supported");
        assertThat(cli.err.toString()).isEmpty();
        assertThat(cli.cli("info", "lazy")).isZero();
        assertThat(cli.out.toString()).contains("\tacks: not durable or unknown\n");
    }

    @Test
    void infoJsonHasExactlyTheKeysScriptsReadAndTheSameFigures() {
        cli = new CliHarness();
        assertThat(cli.cli("info", "disk", "--json")).as(cli.err.toString()).isZero();
        String json = cli.out.toString();
        assertThat(json).endsWith("}\n").hasLineCount(1);
        assertThat(keys(json)).containsExactly("uri", "export", "description", "size", "read_only", "min_block_size",
                "preferred_block_size", "max_payload", "can_multi_conn", "durable_acks", "fencing", "flags");
        assertThat(value(json, "uri")).isEqualTo("\"" + cli.uri("disk") + "\"");
        assertThat(value(json, "export")).isEqualTo("\"disk\"");
        assertThat(value(json, "description")).isEqualTo("\"scratch disk\"");
        assertThat(value(json, "size")).isEqualTo("8388608");
        assertThat(value(json, "read_only")).isEqualTo("false");
        assertThat(value(json, "min_block_size")).isEqualTo("1");
        assertThat(value(json, "preferred_block_size")).isEqualTo("4096");
        assertThat(value(json, "max_payload")).isEqualTo("67108864");
        assertThat(value(json, "can_multi_conn")).isEqualTo("true");
        assertThat(value(json, "durable_acks")).isEqualTo("true");
        assertThat(value(json, "fencing")).isEqualTo("true");
        assertThat(value(json, "flags")).startsWith("[\"send_flush\",\"send_fua\",")
                .contains("\"send_trim\"", "\"send_write_zeroes\"", "\"can_multi_conn\"", "\"send_cache\"")
                .doesNotContain("read_only", "has_flags");

        assertThat(cli.cli("info", "ro", "--json")).isZero();
        json = cli.out.toString();
        assertThat(value(json, "read_only")).isEqualTo("true");
        assertThat(value(json, "flags")).contains("\"read_only\"").doesNotContain("send_write_zeroes", "send_trim");
        assertThat(cli.cli("info", "lazy", "--json")).isZero();
        assertThat(value(cli.out.toString(), "durable_acks")).isEqualTo("false");
        assertThat(value(cli.out.toString(), "description")).isEqualTo("\"\"");
    }

    @Test
    void listShowsEveryExportWithItsDescription() {
        cli = new CliHarness();
        String server = "nbd://127.0.0.1:" + cli.server.port();
        assertThat(cli.run("list", server)).as(cli.err.toString()).isZero();
        assertThat(cli.out.toString()).isEqualTo("export=\"disk\":\n\tdescription: scratch disk\n"
                + "export=\"ro\":\n\tdescription: golden image\n" + "export=\"lazy\":\n\tdescription: \n");
        assertThat(cli.run("list", server, "--json")).isZero();
        assertThat(cli.out.toString()).isEqualTo("{\"exports\":[{\"name\":\"disk\",\"description\":\"scratch disk\"},"
                + "{\"name\":\"ro\",\"description\":\"golden image\"},{\"name\":\"lazy\",\"description\":\"\"}]}\n");
    }

    @Test
    void writeFromStdinThenReadToStdoutGivesTheSameBytes() {
        cli = new CliHarness();
        // every byte value, over many chunks, ending in a partial one
        byte[] data = random(5 * SMALL_CHUNK + 12345, 1);
        assertThat(cli.run(data, SMALL_CHUNK, "write", cli.uri("disk"), "--offset", "4097")).as(cli.err.toString())
                .isZero();
        assertThat(cli.out.toString()).isEmpty();
        assertThat(cli.err.toString()).isEmpty();
        assertThat(CliHarness.contents(cli.disk, 4097, data.length)).isEqualTo(data);
        assertThat(CliHarness.contents(cli.disk, 0, 4097)).containsOnly(0);

        assertThat(cli.run(null, SMALL_CHUNK, "read", cli.uri("disk"), "--offset", "4097", "--length",
                String.valueOf(data.length))).as(cli.err.toString()).isZero();
        assertThat(cli.bytes.toByteArray()).isEqualTo(data);
        assertThat(cli.out.toString()).isEmpty();
    }

    @Test
    void largeChunksAndSizeSuffixesRoundTripToo() {
        cli = new CliHarness();
        byte[] data = random((5 << 20) + 3, 2);
        assertThat(cli.run(data, ReadCommand.CHUNK, "write", cli.uri("disk"), "--offset", "1M")).isZero();
        assertThat(cli.run(null, ReadCommand.CHUNK, "read", cli.uri("disk"), "--offset", "1M", "--length",
                String.valueOf(data.length))).isZero();
        assertThat(cli.bytes.toByteArray()).isEqualTo(data);
    }

    @Test
    void readWithoutLengthReadsToTheEndOfTheExport() {
        cli = new CliHarness();
        CliHarness.fill(cli.disk, CliHarness.SIZE - 1, new byte[] {42});
        assertThat(cli.run(null, SMALL_CHUNK, "read", cli.uri("disk"), "--offset", "7M")).isZero();
        byte[] got = cli.bytes.toByteArray();
        assertThat(got).hasSize(1 << 20);
        assertThat(got[got.length - 1]).isEqualTo((byte) 42);
        assertThat(cli.cli("read", "disk", "--offset", "8M")).isZero();
        assertThat(cli.bytes.toByteArray()).isEmpty();
    }

    @Test
    void aReaderThatClosesThePipeEndsTheReadQuietly() {
        cli = new CliHarness();
        CommandLine cmd = RbdCli.commandLine();
        StringWriter err = new StringWriter();
        cmd.setErr(new PrintWriter(err, true));
        AtomicInteger writes = new AtomicInteger();
        ReadCommand read = cmd.getSubcommands().get("read").getCommand();
        read.chunk = SMALL_CHUNK;
        // like `| head -c 512`: the first chunk is taken, then the pipe is gone
        read.stdout = new OutputStream() {
            @Override
            public void write(int b) {
                throw new UnsupportedOperationException();
            }

            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                if (writes.incrementAndGet() > 1) {
                    throw new IOException(ReadCommand.BROKEN_PIPE);
                }
            }
        };
        assertThat(cmd.execute("read", cli.uri("disk"))).isZero();
        assertThat(writes.get()).isEqualTo(2);
        assertThat(err.toString()).isEmpty();
    }

    @Test
    void readToAFileAndWriteFromAFile(@TempDir Path dir) throws Exception {
        cli = new CliHarness();
        byte[] data = random(300_000, 3);
        Path in = dir.resolve("in.bin");
        Files.write(in, data);
        assertThat(cli.cli("write", "disk", "-i", in.toString(), "--offset", "64k")).as(cli.err.toString()).isZero();
        Path out = dir.resolve("out.bin");
        assertThat(cli.cli("read", "disk", "--offset", "64k", "--length", "300000", "-o", out.toString()))
                .as(cli.err.toString()).isZero();
        assertThat(Files.readAllBytes(out)).isEqualTo(data);
        assertThat(cli.bytes.toByteArray()).as("nothing on stdout").isEmpty();
    }

    @Test
    void writeSyncFlushesWhereAcksAreNotDurable() {
        cli = new CliHarness();
        long before = cli.lazy.syncCount();
        assertThat(cli.run(new byte[4096], SMALL_CHUNK, "write", cli.uri("lazy"), "--sync")).isZero();
        assertThat(cli.lazy.syncCount()).isGreaterThan(before);
        // an empty input writes nothing and succeeds
        assertThat(cli.run(new byte[0], SMALL_CHUNK, "write", cli.uri("disk"), "--sync")).isZero();
    }

    @Test
    void flushSyncsTheExport() {
        cli = new CliHarness();
        long before = cli.lazy.syncCount();
        assertThat(cli.cli("flush", "lazy")).as(cli.err.toString()).isZero();
        assertThat(cli.lazy.syncCount()).isGreaterThan(before);
        assertThat(cli.out.toString() + cli.err).isEmpty();
    }

    @Test
    void trimAndZeroClearOnlyTheirRange() {
        cli = new CliHarness();
        byte[] ones = new byte[3 << 20];
        java.util.Arrays.fill(ones, (byte) 1);
        CliHarness.fill(cli.disk, 0, ones);
        assertThat(cli.cli("trim", "disk", "--offset", "4k", "--length", "8k")).as(cli.err.toString()).isZero();
        assertThat(cli.cli("zero", "disk", "--offset", "1M", "--length", "1M")).as(cli.err.toString()).isZero();
        assertThat(CliHarness.contents(cli.disk, 0, 4096)).containsOnly(1);
        assertThat(CliHarness.contents(cli.disk, 4096, 8192)).containsOnly(0);
        assertThat(CliHarness.contents(cli.disk, 12288, 4096)).containsOnly(1);
        assertThat(CliHarness.contents(cli.disk, (1 << 20) - 1, 1)).containsOnly(1);
        assertThat(CliHarness.contents(cli.disk, 1 << 20, 1 << 20)).containsOnly(0);
        assertThat(CliHarness.contents(cli.disk, 2 << 20, 1)).containsOnly(1);
    }

    /** Remembers whether WRITE_ZEROES asked to keep the range allocated. */
    static final class NoHoleStore extends MemoryBlockStore {
        volatile Boolean lastMayPunch;

        NoHoleStore() {
            super(CliHarness.SIZE);
        }

        @Override
        public void writeZeroes(long offset, long length, boolean mayPunch, boolean fastOnly) {
            lastMayPunch = mayPunch;
            super.writeZeroes(offset, length, mayPunch, fastOnly);
        }
    }

    @Test
    void zeroNoHoleAsksTheServerToKeepTheRangeAllocated() {
        NoHoleStore store = new NoHoleStore();
        cli = new CliHarness(store);
        assertThat(cli.cli("zero", "disk", "--offset", "0", "--length", "64k")).isZero();
        assertThat(store.lastMayPunch).isTrue();
        assertThat(cli.cli("zero", "disk", "--offset", "0", "--length", "64k", "--no-hole")).isZero();
        assertThat(store.lastMayPunch).isFalse();
    }

    @ParameterizedTest
    @ValueSource(strings = {"info", "list", "read", "write", "flush", "trim", "zero"})
    void everyCommandHasHelpWithAnExample(String command) {
        cli = new CliHarness();
        assertThat(cli.run(command, "--help")).isZero();
        assertThat(cli.out.toString()).contains("Usage: rbd-cli " + command, "Example:", "rbd-cli " + command + " nbd://",
                "--retry-for");
    }

    @Test
    void theTopLevelHelpListsTheCommandsAndExitCodes() {
        cli = new CliHarness();
        assertThat(cli.run("--help")).isZero();
        assertThat(cli.out.toString()).contains("info", "list", "read", "write", "flush", "trim", "zero", "bench",
                "Exit status: 0 done, 1 the operation failed, 2 usage error,",
                "130 or 143 interrupted by SIGINT or SIGTERM (after a clean disconnect).");
    }
}
