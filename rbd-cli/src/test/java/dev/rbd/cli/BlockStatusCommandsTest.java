package dev.rbd.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rbd.protocol.RequiredTools;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.RandomAccessFile;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code rbd-cli map} and {@code rbd-cli copy} against servers with and without block status: nbdkit's file plugin
 * on a sparse file (base:allocation from SEEK_HOLE/SEEK_DATA), its eval plugin answering each BLOCK_STATUS for 64 KiB
 * only, nbdkit without structured replies (so without block status) and the in-process rbd-server. map's output is
 * compared byte for byte with {@code nbdinfo --map}; copies are compared with {@code cmp}, and nbdkit's log filter
 * shows which ranges copy read.
 */
class BlockStatusCommandsTest {
    private static final int K = 1024;
    private static final int M = 1 << 20;
    private static final long SIZE = 8 * M;
    /** The sparse file's allocated ranges: random data, random data, written zeroes, random data at the end. */
    private static final long[][] WRITTEN = {{M, 4 * K}, {3 * M, 192 * K}, {5 * M, 64 * K}, {SIZE - 4 * K, 4 * K}};

    @TempDir
    Path dir;
    private final List<AutoCloseable> started = new ArrayList<>();
    private StringWriter out = new StringWriter();
    private StringWriter err = new StringWriter();

    @AfterEach
    void stop() throws Exception {
        for (AutoCloseable c : started) {
            c.close();
        }
    }

    @Test
    void mapOfASparseFileIsWhatNbdinfoPrints() throws Exception {
        RequiredTools.require("nbdinfo", "Debian: apt-get install libnbd-bin");
        String uri = nbdkit("file", sparseFile().toString()).uri();

        assertThat(cli("map", uri)).as(err.toString()).isZero();
        assertThat(out.toString()).isEqualTo(tool("nbdinfo", "--map", uri))
                .contains("  0  data\n", "  3  hole,zero\n").startsWith("         0     1048576    3  hole,zero\n");
        assertThat(cli("map", uri, "--json")).as(err.toString()).isZero();
        assertThat(out.toString()).isEqualTo(tool("nbdinfo", "--map", "--json", uri))
                .startsWith("[\n{ \"offset\": 0, \"length\": 1048576, \"type\": 3, \"description\": \"hole,zero\"},\n");
    }

    @Test
    void mapOfAnEmptyExportIsWhatNbdinfoPrints() throws Exception {
        RequiredTools.require("nbdinfo", "Debian: apt-get install libnbd-bin");
        String uri = nbdkit("null", "0").uri();

        assertThat(cli("map", uri)).as(err.toString()).isZero();
        assertThat(out.toString()).isEmpty();
        assertThat(tool("nbdinfo", "--map", uri)).isEmpty();
        assertThat(cli("map", uri, "--json")).as(err.toString()).isZero();
        assertThat(out.toString()).isEqualTo(tool("nbdinfo", "--map", "--json", uri)).isEqualTo("[\n\n]\n");
    }

    @Test
    void typesWithoutANameHaveNoDescriptionAndWideNumbersAreNotCut() {
        ExtentWalk.Range r = new ExtentWalk.Range(1L << 40, 123456789012L, 6);
        assertThat(MapCommand.toText(r)).isEqualTo("1099511627776  123456789012    6\n");
        assertThat(MapCommand.toJson(r)).isEqualTo("{ \"offset\": 1099511627776, \"length\": 123456789012, "
                + "\"type\": 6}");
        assertThat(MapCommand.toText(new ExtentWalk.Range(0, 512, 2))).isEqualTo("         0         512    2  zero\n");
    }

    @Test
    void mapGoesOnWhereAShortBlockStatusReplyEnds() throws Exception {
        RequiredTools.require("nbdinfo", "Debian: apt-get install libnbd-bin");
        // every reply covers 64 KiB at most, whatever was asked; the type changes every 256 KiB
        NbdkitProcess nbdkit = nbdkit("--filter=log", "eval", "logfile=" + dir.resolve("requests.log"),
                "get_size=echo " + SIZE, "can_extents=exit 0",
                "pread=dd if=/dev/zero count=$3 iflag=count_bytes 2>/dev/null",
                "extents=if [ $(( $4 / 262144 % 2 )) = 0 ]; then t=hole,zero; else t=; fi; echo $4 65536 $t");
        String uri = nbdkit.uri();

        assertThat(cli("map", uri)).as(err.toString()).isZero();
        assertThat(out.toString()).isEqualTo(tool("nbdinfo", "--map", uri))
                .startsWith("         0      262144    3  hole,zero\n    262144      262144    0  data\n")
                .hasLineCount((int) (SIZE / (256 * K)));
        long asked = Pattern.compile("Extents id=\\d+ offset=").matcher(Files.readString(dir.resolve("requests.log")))
                .results().count();
        assertThat(asked).as("one BLOCK_STATUS per 64 KiB, twice: nbdinfo's walk and rbd-cli's")
                .isEqualTo(2 * SIZE / (64 * K));
    }

    @Test
    void copyFromASparseExportReadsNoHoleAndGivesTheSameBytes() throws Exception {
        RequiredTools.require("cmp", "Debian: apt-get install diffutils");
        Path sparse = sparseFile();
        String uri = nbdkit("--filter=log", "file", sparse.toString(), "logfile=" + dir.resolve("requests.log")).uri();
        Path copy = dir.resolve("copy.img");
        Files.write(copy, filled(SIZE + M, (byte) 0x77)); // longer and full of old data: both must go

        assertThat(cli("copy", uri, copy.toString())).as(err.toString()).isZero();
        assertThat(tool("cmp", sparse.toString(), copy.toString())).isEmpty();
        List<long[]> reads = reads();
        assertThat(reads).as("the data was read").isNotEmpty();
        for (long[] r : reads) {
            assertThat(insideWritten(r[0], r[1])).as("READ at %d+%d is inside the written ranges", r[0], r[1])
                    .isTrue();
        }
        assertThat(err.toString()).containsPattern(
                "copied 8.0 MiB in .*, [0-9.]+ MiB not read \\(the source reported zeroes\\), "
                        + "[0-9.]+ MiB of zeroes skipped");
    }

    @Test
    void copyFromASparseExportToAnExportZeroesTheHolesThere() throws Exception {
        Path sparse = sparseFile();
        String uri = nbdkit("file", sparse.toString()).uri();
        try (CliHarness rbd = new CliHarness()) {
            CliHarness.fill(rbd.disk, 0, filled(SIZE, (byte) 0x77));

            assertThat(cli("copy", uri, rbd.uri("disk"), "--verify")).as(err.toString()).isZero();
            assertThat(err.toString()).contains("not read", "verified");
            assertThat(CliHarness.contents(rbd.disk, 0, (int) SIZE)).isEqualTo(Files.readAllBytes(sparse));
        }
    }

    @Test
    void withoutBlockStatusMapIsOneDataExtentAndCopyReadsEverything() throws Exception {
        RequiredTools.require("cmp", "Debian: apt-get install diffutils");
        // --no-sr: no structured replies, so no metadata contexts and no BLOCK_STATUS
        String uri = nbdkit("--no-sr", "memory", String.valueOf(SIZE)).uri();
        Path source = sparseFile();
        assertThat(cli("copy", source.toString(), uri)).as(err.toString()).isZero();

        assertThat(cli("map", uri)).as(err.toString()).isZero();
        assertThat(out.toString()).isEqualTo("         0     8388608    0  data\n");
        assertThat(cli("map", "--json", uri)).as(err.toString()).isZero();
        assertThat(out.toString()).isEqualTo(
                "[\n{ \"offset\": 0, \"length\": 8388608, \"type\": 0, \"description\": \"data\"}\n]\n");
        Path copy = dir.resolve("copy.img");
        assertThat(cli("copy", uri, copy.toString())).as(err.toString()).isZero();
        assertThat(err.toString()).doesNotContain("not read");
        assertThat(tool("cmp", source.toString(), copy.toString())).isEmpty();
    }

    @Test
    void mapOfAnRbdServerExportFullOfDataIsOneDataExtent() {
        try (CliHarness rbd = new CliHarness()) {
            CliHarness.fill(rbd.disk, 0, filled(CliHarness.SIZE, (byte) 1));
            assertThat(rbd.cli("map", "disk")).as(rbd.err.toString()).isZero();
            assertThat(rbd.out.toString()).isEqualTo("         0     8388608    0  data\n");
            assertThat(rbd.err.toString()).isEmpty();
        }
    }

    @Test
    void usageErrorsExitTwoAndConnectFailuresAsInfoDoes() {
        assertThat(cli("map")).isEqualTo(2);
        assertThat(err.toString()).contains("rbd-cli map: ").hasLineCount(1);
        assertThat(cli("map", "http://127.0.0.1/x")).isEqualTo(2);
        assertThat(cli("map", "nbd://127.0.0.1/x", "--bogus")).isEqualTo(2);

        String nobody = "nbd://127.0.0.1:" + CliHarness.freePort() + "/x";
        int info = cli("info", nobody);
        assertThat(info).isEqualTo(1);
        assertThat(cli("map", nobody)).isEqualTo(info);
        assertThat(err.toString()).startsWith("rbd-cli map: cannot connect to ").hasLineCount(1);
        assertThat(out.toString()).isEmpty();
    }

    @Test
    void aBlockStatusReplyThatCoversNothingFailsMapAndCopyInsteadOfAskingForever() throws Exception {
        try (EmptyBlockStatusServer broken = new EmptyBlockStatusServer(SIZE)) {
            assertThat(cli("map", broken.uri())).isEqualTo(1);
            assertThat(err.toString()).hasLineCount(1).contains("rbd-cli map: ", "covers no byte");
            assertThat(cli("copy", broken.uri(), dir.resolve("copy.img").toString())).isEqualTo(1);
            assertThat(err.toString()).hasLineCount(1).contains("rbd-cli copy: ", "covers no byte");
            assertThat(broken.blockStatusRequests).as("one question each, not a loop").isEqualTo(2);
        }
    }

    /** An 8 MiB sparse file: {@link #WRITTEN} allocated, holes elsewhere. */
    private Path sparseFile() throws IOException {
        Path p = dir.resolve("sparse.img");
        Random random = new Random(13);
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            f.setLength(SIZE);
            for (long[] w : WRITTEN) {
                byte[] b = new byte[(int) w[1]];
                if (w[0] != 5 * M) {
                    random.nextBytes(b);
                }
                f.seek(w[0]);
                f.write(b);
            }
        }
        return p;
    }

    private static boolean insideWritten(long offset, long length) {
        return Arrays.stream(WRITTEN).anyMatch(w -> offset >= w[0] && offset + length <= w[0] + w[1]);
    }

    private static byte[] filled(long size, byte value) {
        byte[] b = new byte[(int) size];
        Arrays.fill(b, value);
        return b;
    }

    private NbdkitProcess nbdkit(String... args) throws Exception {
        NbdkitProcess p = NbdkitProcess.start(dir, args);
        started.add(p);
        return p;
    }

    /** The READs nbdkit's log filter recorded: offset and count. */
    private List<long[]> reads() throws IOException {
        List<long[]> reads = new ArrayList<>();
        Matcher m = Pattern.compile("Read id=\\d+ offset=0x([0-9a-f]+) count=0x([0-9a-f]+)")
                .matcher(Files.readString(dir.resolve("requests.log")));
        while (m.find()) {
            reads.add(new long[] {Long.parseLong(m.group(1), 16), Long.parseLong(m.group(2), 16)});
        }
        return reads;
    }

    private int cli(String... args) {
        out = new StringWriter();
        err = new StringWriter();
        CommandLine cmd = RbdCli.commandLine();
        cmd.setOut(new PrintWriter(out, true));
        cmd.setErr(new PrintWriter(err, true));
        return cmd.execute(args);
    }

    /** Runs a tool and returns its stdout; it must exit 0 within a minute (ended by its pid otherwise). */
    private String tool(String... command) throws Exception {
        Path stdout = dir.resolve("tool.out");
        Path stderr = dir.resolve("tool.err");
        Process p = new ProcessBuilder(command).redirectOutput(stdout.toFile()).redirectError(stderr.toFile()).start();
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            ProcessHandle.of(p.pid()).ifPresent(ProcessHandle::destroyForcibly);
            p.waitFor(10, TimeUnit.SECONDS);
            throw new AssertionError(String.join(" ", command) + " did not finish within 60 s");
        }
        assertThat(p.exitValue()).as(String.join(" ", command) + ": " + Files.readString(stderr)).isZero();
        return Files.readString(stdout, StandardCharsets.UTF_8);
    }
}
