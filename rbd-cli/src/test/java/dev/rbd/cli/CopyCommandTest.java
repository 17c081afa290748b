package dev.rbd.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rbd.server.RbdServer;
import dev.rbd.server.export.Export;
import dev.rbd.server.export.ServerConfig;
import dev.rbd.server.export.SyncMode;
import dev.rbd.server.store.MemoryBlockStore;
import io.netty.buffer.ByteBuf;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import picocli.CommandLine;

/** {@code rbd-cli copy} against the in-process server: round trips, sparseness, verify, and the refusals. */
class CopyCommandTest {
    private static final int MiB = 1 << 20;

    @TempDir
    Path dir;

    private RbdServer server;
    private String uri;
    private final StringWriter out = new StringWriter();
    private final StringWriter err = new StringWriter();

    /** Counts the bytes that arrive as WRITE payload and as WRITE_ZEROES ranges. */
    static class CountingStore extends MemoryBlockStore {
        final AtomicLong written = new AtomicLong();
        final AtomicLong zeroed = new AtomicLong();

        CountingStore(long size) {
            super(size);
        }

        @Override
        public void write(long offset, ByteBuf src) {
            written.addAndGet(src.readableBytes());
            super.write(offset, src);
        }

        @Override
        public void writeZeroes(long offset, long length, boolean mayPunch, boolean fastOnly) {
            zeroed.addAndGet(length);
            super.writeZeroes(offset, length, mayPunch, fastOnly);
        }
    }

    /** Acknowledges every write but drops the third one, as a lying disk would. */
    static final class LosingStore extends CountingStore {
        private final AtomicLong writes = new AtomicLong();

        LosingStore(long size) {
            super(size);
        }

        @Override
        public void write(long offset, ByteBuf src) {
            if (writes.incrementAndGet() != 3) {
                super.write(offset, src);
            }
        }
    }

    /** Serves {@code disk} (the given store), {@code other} (8 MiB), {@code small} (1 MiB), {@code ro} (read-only). */
    private void start(MemoryBlockStore disk) throws Exception {
        server = new RbdServer(ServerConfig.defaults(List.of(new InetSocketAddress("127.0.0.1", 0))), List.of(
                export("disk", disk, false), export("other", new CountingStore(8 * MiB), false),
                export("small", new MemoryBlockStore(MiB), false), export("ro", new MemoryBlockStore(8 * MiB), true)))
                .start();
        uri = "nbd://127.0.0.1:" + server.port() + "/";
    }

    private static Export export(String name, MemoryBlockStore store, boolean readOnly) {
        return Export.builder(name, store).readOnly(readOnly).syncMode(SyncMode.FLUSH).build();
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

    private int copy(String... args) {
        String[] all = new String[args.length + 1];
        all[0] = "copy";
        System.arraycopy(args, 0, all, 1, args.length);
        return run(all);
    }

    /** Random bytes with zero regions where they fit: the first 64k, 1 MiB from 2 MiB, and the last 100k. */
    private Path image(String name, int size, long seed) throws Exception {
        byte[] b = new byte[size];
        new Random(seed).nextBytes(b);
        Arrays.fill(b, 0, Math.min(size, 65536), (byte) 0);
        if (size > 4 * MiB) {
            Arrays.fill(b, 2 * MiB, 3 * MiB, (byte) 0);
            Arrays.fill(b, size - 100_000, size, (byte) 0);
        }
        return Files.write(dir.resolve(name), b);
    }

    private String path(String name) {
        return dir.resolve(name).toString();
    }

    @Test
    void fileToExportToFileGivesTheSameBytes() throws Exception {
        CountingStore disk = new CountingStore(8 * MiB);
        start(disk);
        Path in = image("in.img", 6 * MiB + 12345, 1);
        assertThat(copy(in.toString(), uri + "disk")).as(err.toString()).isZero();
        assertThat(copy(uri + "disk", path("out.img"), "--chunk", "64k", "--qd", "4")).as(err.toString()).isZero();
        // the copy is as long as the source: the export's 8 MiB, the first 6 MiB + 12345 of it from in.img
        byte[] back = Files.readAllBytes(dir.resolve("out.img"));
        assertThat(back).hasSize(8 * MiB);
        assertThat(Arrays.copyOf(back, (int) Files.size(in))).isEqualTo(Files.readAllBytes(in));
        assertThat(Arrays.copyOfRange(back, (int) Files.size(in), back.length)).containsOnly(0);
        assertThat(err.toString().lines()).hasSize(2)
                .allMatch(l -> l.matches("copied [0-9.]+ MiB in [0-9.]+ s \\([0-9]+ MB/s\\), .* of zeroes skipped"));
        assertThat(out.toString()).isEmpty();
    }

    @Test
    void zeroBlocksAreNotSentAsData() throws Exception {
        CountingStore disk = new CountingStore(16 * MiB);
        start(disk);
        // 16 MiB of which only 1 MiB at 3 MiB and one 4k block at 9 MiB + 8k hold data
        byte[] b = new byte[16 * MiB];
        Random r = new Random(2);
        byte[] data = new byte[MiB];
        r.nextBytes(data);
        System.arraycopy(data, 0, b, 3 * MiB, MiB);
        Arrays.fill(b, 9 * MiB + 8192, 9 * MiB + 12288, (byte) 7);
        Path in = Files.write(dir.resolve("sparse.img"), b);
        assertThat(copy(in.toString(), uri + "disk", "--quiet")).as(err.toString()).isZero();
        assertThat(err.toString()).isEmpty();
        assertThat(disk.written.get()).isEqualTo(MiB + 4096);
        // the zero runs around the data merge across chunks: 3 MiB, 6 MiB + 8k, 7 MiB - 12k, zeroed as such
        assertThat(disk.zeroed.get()).isEqualTo(16L * MiB - MiB - 4096);
        assertThat(copy(uri + "disk", path("back.img"))).as(err.toString()).isZero();
        assertThat(Files.readAllBytes(dir.resolve("back.img"))).isEqualTo(b);
        assertThat(err.toString()).contains("copied 16 MiB in ", "15 MiB of zeroes skipped");
    }

    @Test
    void aFileTargetIsCutToTheSourceSizeAndItsOldDataGoes() throws Exception {
        start(new MemoryBlockStore(2 * MiB));
        Path old = dir.resolve("old.img");
        byte[] junk = new byte[5 * MiB];
        Arrays.fill(junk, (byte) 0x5a);
        Files.write(old, junk);
        assertThat(copy(uri + "disk", old.toString(), "--verify")).as(err.toString()).isZero();
        assertThat(Files.size(old)).isEqualTo(2 * MiB);
        assertThat(Files.readAllBytes(old)).containsOnly(0);
        assertThat(err.toString()).contains("2.0 MiB of zeroes skipped, verified");
    }

    @Test
    void exportToExportOverSeveralConnections() throws Exception {
        start(new MemoryBlockStore(8 * MiB));
        Path in = image("in.img", 8 * MiB, 3);
        assertThat(copy(in.toString(), uri + "disk", "--connections", "1")).as(err.toString()).isZero();
        assertThat(copy(uri + "disk", uri + "other", "--connections", "4", "--verify")).as(err.toString()).isZero();
        assertThat(copy(uri + "other", path("out.img"))).as(err.toString()).isZero();
        assertThat(Files.readAllBytes(dir.resolve("out.img"))).isEqualTo(Files.readAllBytes(in));
        assertThat(err.toString().lines()).hasSize(3).element(1).asString().endsWith(", verified");
    }

    @Test
    void verifyFindsTheFirstDifference() throws Exception {
        start(new LosingStore(8 * MiB));
        Path in = image("in.img", 8 * MiB, 4);
        // chunks of 256k, all data from 3 MiB on; the third write the store sees is dropped
        assertThat(copy(in.toString(), uri + "disk", "--chunk", "256k", "--qd", "1", "--verify")).isEqualTo(1);
        assertThat(err.toString()).hasLineCount(1)
                .startsWith("rbd-cli copy: verify failed: export 'disk' differs from " + in + " at offset ");
        long at = Long.parseLong(err.toString().trim().replaceAll(".* at offset ", ""));
        byte[] b = Files.readAllBytes(in);
        assertThat(b[(int) at]).isNotZero();
    }

    @Test
    void aReadOnlyTargetIsRefused() throws Exception {
        start(new MemoryBlockStore(8 * MiB));
        Path in = image("in.img", MiB, 5);
        assertThat(copy(in.toString(), uri + "ro")).isEqualTo(1);
        assertThat(err.toString()).isEqualTo("rbd-cli copy: export 'ro' is read-only" + System.lineSeparator());
        // reading from it is fine
        assertThat(copy(uri + "ro", path("ro.img"), "-q")).isZero();
        assertThat(Files.size(dir.resolve("ro.img"))).isEqualTo(8 * MiB);
    }

    @Test
    void aTargetSmallerThanTheSourceIsRefused() throws Exception {
        CountingStore disk = new CountingStore(8 * MiB);
        start(disk);
        Path in = image("in.img", MiB + 1, 6);
        assertThat(copy(in.toString(), uri + "small")).isEqualTo(1);
        assertThat(copy(uri + "disk", uri + "small")).isEqualTo(1);
        assertThat(err.toString().lines()).containsExactly(
                "rbd-cli copy: export 'small' has 1048576 bytes, less than the source's 1048577",
                "rbd-cli copy: export 'small' has 1048576 bytes, less than the source's 8388608");
    }

    @Test
    void missingSourceOrServerIsAFailure() throws Exception {
        start(new MemoryBlockStore(MiB));
        assertThat(copy(path("nope.img"), uri + "disk")).isEqualTo(1);
        assertThat(copy("nbd://127.0.0.1:1/disk", path("x.img"))).isEqualTo(1);
        List<String> lines = new ArrayList<>(err.toString().lines().toList());
        assertThat(lines).hasSize(2);
        assertThat(lines.get(0)).startsWith("rbd-cli copy: ").contains("nope.img");
        assertThat(lines.get(1)).startsWith("rbd-cli copy: cannot connect to ");
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "a.img b.img", "a.img", "http://example.org/disk b.img", "a.img nbds://h/disk?tls-verify-peer=maybe",
        "a.img nbd://h/d --chunk=1000", "a.img nbd://h/d --chunk=64M", "a.img nbd://h/d --qd=0",
        "a.img nbd://h/d --qd=1024 --chunk=1M", "a.img nbd://h/d --connections=0", "a.img nbd://h/d --nonsense"})
    void usageErrorsExitTwoWithOneLine(String args) {
        assertThat(copy(args.split(" "))).isEqualTo(2);
        assertThat(err.toString()).hasLineCount(1).startsWith("rbd-cli copy: ").endsWith("--help)\n");
        assertThat(out.toString()).isEmpty();
    }
}
