package dev.rbd.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rbd.server.RbdServer;
import dev.rbd.server.export.Export;
import dev.rbd.server.export.ServerConfig;
import dev.rbd.server.export.SyncMode;
import dev.rbd.server.store.MemoryBlockStore;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import picocli.CommandLine;

/** {@code rbd-cli bench} against the in-process server: output, JSON, exit codes, and the refusals. */
class BenchCommandTest {
    private static final String SHORT = "--duration=300ms --ramp=0";

    private RbdServer server;
    private final StringWriter out = new StringWriter();
    private final StringWriter err = new StringWriter();

    /** Drops every tenth write while acknowledging it, as a lying disk would. */
    static final class LosingStore extends MemoryBlockStore {
        private final AtomicLong writes = new AtomicLong();

        LosingStore(long size) {
            super(size);
        }

        @Override
        public void write(long offset, ByteBuf src) {
            if (writes.incrementAndGet() % 10 != 0) {
                super.write(offset, src);
            }
        }
    }

    /** Fails every read with an I/O error. */
    static final class FailingStore extends MemoryBlockStore {
        FailingStore(long size) {
            super(size);
        }

        @Override
        public void read(long offset, ByteBuf dst, int length) {
            throw new UncheckedIOException(new IOException("bad sector"));
        }
    }

    private String start(MemoryBlockStore rw) throws Exception {
        server = new RbdServer(ServerConfig.defaults(List.of(new InetSocketAddress("127.0.0.1", 0))), List.of(
                Export.builder("disk", rw).description("d").syncMode(SyncMode.FLUSH).build(),
                Export.builder("ro", new MemoryBlockStore(8 << 20)).description("r").readOnly(true)
                        .syncMode(SyncMode.FLUSH).build())).start();
        return "nbd://127.0.0.1:" + server.port() + "/";
    }

    @AfterEach
    void stop() {
        if (server != null) {
            server.close();
        }
    }

    private int run(String... args) {
        CommandLine cmd = RbdCli.commandLine();
        cmd.setOut(new PrintWriter(out, true));
        cmd.setErr(new PrintWriter(err, true));
        return cmd.execute(args);
    }

    private int bench(String uri, String options) {
        String[] split = (SHORT + " " + options).trim().split("\\s+");
        String[] args = new String[split.length + 2];
        args[0] = "bench";
        args[1] = uri;
        System.arraycopy(split, 0, args, 2, split.length);
        return run(args);
    }

    private static double number(String json, String key) {
        Matcher m = Pattern.compile("\"" + Pattern.quote(key) + "\":(-?[0-9.]+)").matcher(json);
        assertThat(m.find()).as("%s in %s", key, json).isTrue();
        return Double.parseDouble(m.group(1));
    }

    @Test
    void randomReadsPrintIopsThroughputAndPercentiles() throws Exception {
        String uri = start(new MemoryBlockStore(8 << 20));
        assertThat(bench(uri + "disk", "--pattern randread --bs 4k --qd 8")).as(err.toString()).isZero();
        assertThat(out.toString()).contains("randread bs=4k qd=8 connections=1", "IOPS", "MB/s", "p50", "p90",
                "p99 ", "p99.9", "max");
        assertThat(err.toString()).isEmpty();
    }

    @Test
    void jsonIsOneObjectWithTheSameFigures() throws Exception {
        String uri = start(new MemoryBlockStore(8 << 20));
        assertThat(bench(uri + "disk", "--pattern randrw --bs 8k --qd 16 --connections 2 --force --json"))
                .as(err.toString()).isZero();
        String json = out.toString().trim();
        assertThat(json).startsWith("{").endsWith("}").doesNotContain("\n").contains("\"pattern\":\"randrw\"");
        assertThat(number(json, "bs")).isEqualTo(8192);
        assertThat(number(json, "qd")).isEqualTo(16);
        assertThat(number(json, "connections")).isEqualTo(2);
        double ops = number(json, "ops");
        assertThat(ops).isPositive().isEqualTo(number(json, "reads") + number(json, "writes"));
        assertThat(number(json, "reads")).isPositive();
        assertThat(number(json, "writes")).isPositive();
        assertThat(number(json, "iops")).isCloseTo(ops / 0.3, org.assertj.core.data.Percentage.withPercentage(1));
        assertThat(number(json, "mb_per_s")).isPositive();
        double p50 = number(json, "p50");
        assertThat(p50).isLessThanOrEqualTo(number(json, "p90"));
        assertThat(number(json, "p90")).isLessThanOrEqualTo(number(json, "p99"));
        assertThat(number(json, "p99")).isLessThanOrEqualTo(number(json, "p99_9"));
        assertThat(number(json, "p99_9")).isLessThanOrEqualTo(number(json, "max"));
    }

    @Test
    void sequentialWritesWrapAtTheEndOfTheExport() throws Exception {
        String uri = start(new MemoryBlockStore(1 << 20));
        assertThat(bench(uri + "disk", "--pattern write --bs 64k --qd 4 --json")).as(err.toString()).isZero();
        assertThat(number(out.toString(), "writes")).as("more writes than the 16 blocks").isGreaterThan(16);
    }

    @Test
    void writingPatternsRefuseAReadOnlyExport() throws Exception {
        String uri = start(new MemoryBlockStore(8 << 20));
        for (String pattern : List.of("randwrite", "randrw", "write")) {
            assertThat(bench(uri + "ro", "--pattern " + pattern + " --force")).isEqualTo(1);
        }
        assertThat(err.toString().lines()).hasSize(3)
                .allMatch(l -> l.startsWith("rbd-cli bench: export 'ro' is read-only"));
        assertThat(out.toString()).isEmpty();
        assertThat(bench(uri + "ro", "--pattern randread")).isZero();
    }

    @Test
    void writingPatternsRefuseAnExportHoldingDataUnlessForced() throws Exception {
        MemoryBlockStore store = new MemoryBlockStore(8 << 20);
        // one byte in the first block, where a partition table would be
        store.write(510, Unpooled.wrappedBuffer(new byte[] {0x55}));
        String uri = start(store);
        assertThat(bench(uri + "disk", "--pattern randwrite")).isEqualTo(1);
        assertThat(err.toString()).hasLineCount(1).contains("holds data", "at offset 510", "--force");
        assertThat(out.toString()).isEmpty();
        assertThat(bench(uri + "disk", "--pattern randwrite --force")).as(err.toString()).isZero();
        assertThat(out.toString()).contains("randwrite");
    }

    /** The finding that a 64-block sample missed: data at 1M and 4M..14M of a 16M export. */
    @Test
    void dataAnywhereIsFoundNotJustWhereASampleLooks() throws Exception {
        MemoryBlockStore store = new MemoryBlockStore(16 << 20);
        byte[] mib = new byte[1 << 20];
        java.util.Arrays.fill(mib, (byte) 0x5a);
        store.write(1 << 20, Unpooled.wrappedBuffer(new byte[] {1}));
        for (long at = 4 << 20; at < 14 << 20; at += mib.length) {
            store.write(at, Unpooled.wrappedBuffer(mib));
        }
        String uri = start(store);
        for (String pattern : List.of("randwrite", "randrw", "write")) {
            assertThat(bench(uri + "disk", "--pattern " + pattern + " --bs 512")).isEqualTo(1);
        }
        assertThat(err.toString().lines()).hasSize(3)
                .allMatch(l -> l.contains("holds data") && l.contains("at offset 1048576") && l.contains("--force"));
        assertThat(out.toString()).isEmpty();
        byte[] back = new byte[1 << 20];
        store.read(4 << 20, Unpooled.wrappedBuffer(back).clear(), back.length);
        assertThat(back).as("nothing was overwritten").isEqualTo(mib);
        assertThat(bench(uri + "disk", "--pattern randwrite --force")).as(err.toString()).isZero();
    }

    @Test
    void theVeryLastByteCountsAsData() throws Exception {
        long size = 16 << 20;
        MemoryBlockStore store = new MemoryBlockStore(size);
        store.write(size - 1, Unpooled.wrappedBuffer(new byte[] {(byte) 0x80}));
        String uri = start(store);
        assertThat(bench(uri + "disk", "--pattern randwrite")).isEqualTo(1);
        assertThat(err.toString()).contains("holds data", "at offset " + (size - 1));
    }

    @Test
    void anAllZeroExportIsBenchmarkedWithoutForce() throws Exception {
        String uri = start(new MemoryBlockStore(16 << 20));
        assertThat(bench(uri + "disk", "--pattern randwrite")).as(err.toString()).isZero();
        assertThat(out.toString()).contains("randwrite");
    }

    @Test
    void verifyReadsBackEveryWrittenBlock() throws Exception {
        String uri = start(new MemoryBlockStore(4 << 20));
        assertThat(bench(uri + "disk", "--pattern randrw --qd 16 --connections 4 --verify --json"))
                .as(err.toString()).isZero();
        String json = out.toString();
        assertThat(number(json, "blocks")).isPositive().isLessThanOrEqualTo(number(json, "writes"));
        assertThat(number(json, "mismatches")).isZero();
    }

    @Test
    void verifyFailsWhenTheServerLosesWrites() throws Exception {
        String uri = start(new LosingStore(4 << 20));
        assertThat(bench(uri + "disk", "--pattern write --qd 4 --verify")).isEqualTo(1);
        assertThat(out.toString()).contains("blocks differ");
        assertThat(err.toString()).hasLineCount(1).startsWith("rbd-cli bench: verify failed: ");
    }

    @Test
    void aServerErrorEndsTheRunWithExitOne() throws Exception {
        String uri = start(new FailingStore(8 << 20));
        assertThat(bench(uri + "disk", "--pattern randread")).isEqualTo(1);
        assertThat(err.toString()).hasLineCount(1).startsWith("rbd-cli bench: read of 4096 bytes at offset ")
                .contains("EIO");
        assertThat(out.toString()).isEmpty();
    }

    @Test
    void anUnreachableServerIsAFailureNotAUsageError() {
        assertThat(run("bench", "nbd://127.0.0.1:1/disk", "--duration=100ms")).isEqualTo(1);
        assertThat(err.toString()).hasLineCount(1).startsWith("rbd-cli bench: cannot connect to ");
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "--bs=4q", "--bs=0", "--bs=64M", "--duration=10x", "--duration=0s", "--pattern=randomread", "--qd=0",
        "--qd=4 --connections=5", "--qd=1024 --bs=32M", "--verify", "--pattern=read --verify", "--nonsense"})
    void usageErrorsExitTwoWithOneLine(String options) {
        String[] extra = options.split(" ");
        String[] args = new String[extra.length + 2];
        args[0] = "bench";
        args[1] = "nbd://127.0.0.1:1/disk";
        System.arraycopy(extra, 0, args, 2, extra.length);
        assertThat(run(args)).isEqualTo(2);
        assertThat(err.toString()).hasLineCount(1).startsWith("rbd-cli bench: ").endsWith("--help)\n");
        assertThat(out.toString()).isEmpty();
    }

    @Test
    void aBadUriOrNoCommandIsAUsageError() {
        assertThat(run("bench", "http://example.org/disk")).isEqualTo(2);
        assertThat(err.toString()).contains("unsupported scheme 'http'");
        assertThat(run()).isEqualTo(2);
        assertThat(err.toString()).contains("rbd-cli: missing command");
    }
}
