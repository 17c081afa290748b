package dev.rbd.server.store;

import static dev.rbd.server.store.OverlayMap.BLOCK;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.rbd.server.store.OverlayMap.State;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.security.MessageDigest;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class OverlayBlockStoreTest {
    private static final FileTime OLD = FileTime.from(Instant.parse("2020-01-02T03:04:05Z"));

    @TempDir
    Path dir;

    private Path goldenPath;
    private byte[] golden;
    private byte[] goldenDigest;
    private FileBlockStore goldenStore;
    private OverlayBlockStore store;

    /** A golden image of {@code size} random non-zero bytes, with an old mtime, and an overlay over it. */
    private OverlayBlockStore open(int size) throws Exception {
        goldenPath = dir.resolve("golden.img");
        golden = new byte[size];
        Random r = new Random(size);
        for (int i = 0; i < size; i++) {
            golden[i] = (byte) (1 + r.nextInt(255));
        }
        Files.write(goldenPath, golden);
        Files.setLastModifiedTime(goldenPath, OLD);
        goldenDigest = sha256(goldenPath);
        goldenStore = FileBlockStore.open(goldenPath, true);
        Path tmp = Files.createDirectories(dir.resolve("tmp"));
        store = OverlayBlockStore.temporary(goldenStore, true, tmp);
        return store;
    }

    @AfterEach
    void goldenIsUnchanged() throws Exception {
        if (store != null) {
            store.close();
        }
        if (goldenPath != null) {
            assertThat(sha256(goldenPath)).isEqualTo(goldenDigest);
            assertThat(Files.readAllBytes(goldenPath)).isEqualTo(golden);
            assertThat(Files.getLastModifiedTime(goldenPath)).isEqualTo(OLD);
        }
    }

    private static byte[] sha256(Path p) throws Exception {
        return MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(p));
    }

    private static byte[] read(BlockStore s, long offset, int length) throws IOException {
        ByteBuf b = Unpooled.directBuffer(length);
        try {
            s.read(offset, b, length);
            assertThat(b.readableBytes()).isEqualTo(length);
            byte[] out = new byte[length];
            b.getBytes(0, out);
            return out;
        } finally {
            b.release();
        }
    }

    private static void write(BlockStore s, long offset, byte[] data) throws IOException {
        ByteBuf b = Unpooled.directBuffer(data.length).writeBytes(data);
        try {
            s.write(offset, b);
            assertThat(b.readableBytes()).isEqualTo(data.length);
        } finally {
            b.release();
        }
    }

    private static byte[] pattern(int length, int seed) {
        byte[] b = new byte[length];
        new Random(seed).nextBytes(b);
        return b;
    }

    private record Run(long length, State state) {
    }

    private static List<Run> runs(OverlayBlockStore s, long offset, long length) throws IOException {
        List<Run> out = new ArrayList<>();
        s.runs(offset, length, (n, state) -> out.add(new Run(n, state)));
        return out;
    }

    @Test
    void sizeAndReadsOfUnwrittenBlocksAreTheGolden() throws Exception {
        OverlayBlockStore s = open(16 * BLOCK);
        assertThat(s.size()).isEqualTo(golden.length);
        assertThat(read(s, 0, golden.length)).isEqualTo(golden);
        assertThat(read(s, 4000, 200)).isEqualTo(Arrays.copyOfRange(golden, 4000, 4200));
        assertThat(s.canTrim()).isTrue();
        assertThat(s.canFastZero()).isTrue();
        assertThat(s.describe()).isEqualTo("overlay of file " + goldenPath);
        assertThat(runs(s, 0, golden.length)).containsExactly(new Run(golden.length, State.GOLDEN));
    }

    @Test
    void alignedAndUnalignedWritesReadBackAndKeepTheGoldenBytesAroundThem() throws Exception {
        OverlayBlockStore s = open(16 * BLOCK);
        byte[] model = golden.clone();
        long[][] writes = {
            {0, BLOCK}, {1, 10}, {511, 2}, {4095, 1}, {4095, 2}, {2 * BLOCK + 100, 3 * BLOCK}, {6 * BLOCK, 2 * BLOCK},
            {9 * BLOCK - 1, BLOCK + 2}, {11 * BLOCK + 7, 1}, {11 * BLOCK + 4000, 200}, {15 * BLOCK + 4095, 1},
        };
        int seed = 0;
        for (long[] w : writes) {
            byte[] data = pattern((int) w[1], ++seed);
            write(s, w[0], data);
            System.arraycopy(data, 0, model, (int) w[0], data.length);
            assertThat(read(s, w[0], data.length)).as("write at %d", w[0]).isEqualTo(data);
        }
        assertThat(read(s, 0, model.length)).isEqualTo(model);
        // block 13 was never written: it still reads (and is) golden
        assertThat(s.map().get(13)).isEqualTo(State.GOLDEN);
        assertThat(s.map().get(11)).isEqualTo(State.DATA);
        // a composite buffer (as a WRITE's payload may be) lands whole
        byte[] a = pattern(3000, 90);
        byte[] b = pattern(3000, 91);
        ByteBuf composite = Unpooled.wrappedBuffer(Unpooled.directBuffer().writeBytes(a),
                Unpooled.directBuffer().writeBytes(b));
        try {
            s.write(12 * BLOCK + 1000, composite);
        } finally {
            composite.release();
        }
        System.arraycopy(a, 0, model, 12 * BLOCK + 1000, 3000);
        System.arraycopy(b, 0, model, 12 * BLOCK + 4000, 3000);
        assertThat(read(s, 0, model.length)).isEqualTo(model);
        s.sync();
    }

    @Test
    void trimAndWriteZeroesWholeAndPartialBlocks() throws Exception {
        OverlayBlockStore s = open(16 * BLOCK);
        byte[] model = golden.clone();
        byte[] data = pattern(4 * BLOCK, 7);
        write(s, 4 * BLOCK, data);
        System.arraycopy(data, 0, model, 4 * BLOCK, data.length);
        long[][] zeroes = {
            {0, BLOCK}, {BLOCK + 1, 10}, {2 * BLOCK + 4095, 2}, {4 * BLOCK + 100, 2 * BLOCK}, {10 * BLOCK, 3 * BLOCK},
        };
        boolean trim = false;
        for (long[] z : zeroes) {
            if (trim) {
                s.trim(z[0], z[1]);
            } else {
                s.writeZeroes(z[0], z[1], true, true);
            }
            trim = !trim;
            Arrays.fill(model, (int) z[0], (int) (z[0] + z[1]), (byte) 0);
            assertThat(read(s, z[0], (int) z[1])).isEqualTo(new byte[(int) z[1]]);
        }
        s.writeZeroes(14 * BLOCK + 5, BLOCK, false, false);
        Arrays.fill(model, 14 * BLOCK + 5, 15 * BLOCK + 5, (byte) 0);
        assertThat(read(s, 0, model.length)).isEqualTo(model);
        assertThat(s.map().get(0)).isEqualTo(State.ZERO);
        assertThat(s.map().get(1)).isEqualTo(State.DATA);     // partial: golden merged with zeroes
        assertThat(s.map().get(4)).isEqualTo(State.DATA);     // partial head of a zeroed range
        assertThat(s.map().get(5)).isEqualTo(State.ZERO);
        assertThat(s.map().get(6)).isEqualTo(State.DATA);     // partial tail
        // writing into a zeroed block merges with zeroes, not with the golden or old overlay bytes
        write(s, 5 * BLOCK + 10, new byte[] {9, 9});
        model[5 * BLOCK + 10] = 9;
        model[5 * BLOCK + 11] = 9;
        write(s, 11 * BLOCK + 4094, new byte[] {8, 8, 8, 8});
        System.arraycopy(new byte[] {8, 8, 8, 8}, 0, model, 11 * BLOCK + 4094, 4);
        assertThat(read(s, 0, model.length)).isEqualTo(model);
    }

    @Test
    void randomOperationsMatchAModel() throws Exception {
        OverlayBlockStore s = open(40 * BLOCK + 123);
        byte[] model = golden.clone();
        Random r = new Random(42);
        for (int i = 0; i < 400; i++) {
            int off = r.nextInt(model.length);
            int len = 1 + r.nextInt(Math.min(model.length - off, 3 * BLOCK));
            switch (r.nextInt(4)) {
                case 0, 1 -> {
                    byte[] d = pattern(len, i);
                    write(s, off, d);
                    System.arraycopy(d, 0, model, off, len);
                }
                case 2 -> {
                    s.writeZeroes(off, len, r.nextBoolean(), false);
                    Arrays.fill(model, off, off + len, (byte) 0);
                }
                default -> {
                    s.trim(off, len);
                    Arrays.fill(model, off, off + len, (byte) 0);
                }
            }
            int roff = r.nextInt(model.length);
            int rlen = r.nextInt(model.length - roff + 1);
            assertThat(read(s, roff, rlen)).as("op %d", i).isEqualTo(Arrays.copyOfRange(model, roff, roff + rlen));
        }
        assertThat(read(s, 0, model.length)).isEqualTo(model);
    }

    @Test
    void concurrentUnalignedWritesToSharedBlocksLoseNothing() throws Exception {
        int threads = 8;
        int blocks = 64;
        int rounds = 40;
        int slice = BLOCK / threads;          // thread t owns [t * slice + 1, (t + 1) * slice - 1) of every block
        OverlayBlockStore s = open(blocks * BLOCK);
        // round 0 writes into GOLDEN blocks; before each later round every block is zeroed, so each round's first
        // writes to a block are read-modify-writes that race each other
        CyclicBarrier roundStart = new CyclicBarrier(threads, () -> {
            try {
                s.writeZeroes(0, s.size(), true, false);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        CyclicBarrier firstRound = new CyclicBarrier(threads);
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int me = t;
                done.add(pool.submit(() -> {
                    for (int round = 0; round < rounds; round++) {
                        (round == 0 ? firstRound : roundStart).await();
                        for (int b = 0; b < blocks; b++) {
                            byte[] d = new byte[slice - 2];
                            Arrays.fill(d, (byte) (me * 31 + round + 1));
                            write(s, (long) b * BLOCK + me * slice + 1, d);
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : done) {
                f.get(60, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        byte[] expected = new byte[golden.length];
        for (int b = 0; b < blocks; b++) {
            for (int t = 0; t < threads; t++) {
                int from = b * BLOCK + t * slice + 1;
                Arrays.fill(expected, from, from + slice - 2, (byte) (t * 31 + rounds));
            }
        }
        assertThat(read(s, 0, expected.length)).isEqualTo(expected);
    }

    @Test
    void concurrentFirstWritesIntoGoldenBlocksKeepTheGoldenBytesBetweenThem() throws Exception {
        int threads = 8;
        int blocks = 256;
        int slice = BLOCK / threads;
        OverlayBlockStore s = open(blocks * BLOCK);
        CyclicBarrier start = new CyclicBarrier(threads);
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int me = t;
                done.add(pool.submit(() -> {
                    start.await();
                    for (int b = 0; b < blocks; b++) {
                        write(s, (long) b * BLOCK + me * slice + 1, new byte[slice - 2]);
                    }
                    return null;
                }));
            }
            for (Future<?> f : done) {
                f.get(60, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        byte[] expected = golden.clone();
        for (int b = 0; b < blocks; b++) {
            for (int t = 0; t < threads; t++) {
                int from = b * BLOCK + t * slice + 1;
                Arrays.fill(expected, from, from + slice - 2, (byte) 0);
            }
        }
        assertThat(read(s, 0, expected.length)).isEqualTo(expected);
    }

    @Test
    void readsInMemoryAreAnsweredWithoutWaitingAndMatchReads() throws Exception {
        OverlayBlockStore s = open(16 * BLOCK);
        write(s, 2 * BLOCK, pattern(BLOCK, 2));
        write(s, 9 * BLOCK + 100, pattern(50, 9));
        s.writeZeroes(5 * BLOCK, 2 * BLOCK, true, false);
        byte[] expected = read(s, 0, 16 * BLOCK);   // and every page is now in memory
        ByteBuf b = Unpooled.directBuffer(16 * BLOCK);
        try {
            assertThat(s.readIfCached(0, b, 16 * BLOCK)).isTrue();
            byte[] got = new byte[16 * BLOCK];
            b.getBytes(0, got);
            assertThat(got).isEqualTo(expected);
            b.clear();
            assertThat(s.readIfCached(BLOCK + 7, b, 6 * BLOCK)).isTrue();
            assertThat(ByteBufUtil.getBytes(b)).isEqualTo(Arrays.copyOfRange(expected, BLOCK + 7, 7 * BLOCK + 7));
            b.clear().writerIndex(b.capacity() - 10);
            assertThat(s.readIfCached(0, b, BLOCK)).as("no room: not read").isFalse();
            assertThat(b.writerIndex()).isEqualTo(b.capacity() - 10);
        } finally {
            b.release();
        }
    }

    @Test
    void runsReportEachBlocksState() throws Exception {
        OverlayBlockStore s = open(200 * BLOCK);
        write(s, BLOCK, new byte[BLOCK]);                 // block 1: DATA
        s.writeZeroes(3 * BLOCK, 2 * BLOCK, true, false);  // blocks 3-4: ZERO
        write(s, 5 * BLOCK + 7, new byte[] {1});          // block 5: DATA (read-modify-write)
        write(s, 64 * BLOCK, new byte[64 * BLOCK]);       // blocks 64-127: a whole word of DATA
        s.trim(130 * BLOCK, 70 * BLOCK);                  // blocks 130-199: ZERO
        assertThat(runs(s, 0, s.size())).containsExactly(
                new Run(BLOCK, State.GOLDEN), new Run(BLOCK, State.DATA), new Run(BLOCK, State.GOLDEN),
                new Run(2 * BLOCK, State.ZERO), new Run(BLOCK, State.DATA), new Run(58 * BLOCK, State.GOLDEN),
                new Run(64 * BLOCK, State.DATA), new Run(2 * BLOCK, State.GOLDEN), new Run(70 * BLOCK, State.ZERO));
        // a range that starts and ends inside blocks is clipped to it
        assertThat(runs(s, BLOCK + 100, 3 * BLOCK)).containsExactly(
                new Run(BLOCK - 100, State.DATA), new Run(BLOCK, State.GOLDEN), new Run(BLOCK + 100, State.ZERO));
        assertThat(runs(s, 3 * BLOCK + 5, 10)).containsExactly(new Run(10, State.ZERO));
        assertThat(runs(s, 0, 0)).isEmpty();
    }

    /** base:allocation of a range as length, flags, length, flags, ... */
    private static List<Long> allocation(BlockStore s, long offset, long length, int max) throws IOException {
        Extents e = new Extents(offset, length, max);
        s.allocation(e);
        List<Long> out = new ArrayList<>();
        for (int i = 0; i < e.count(); i++) {
            out.add(e.length(i));
            out.add((long) e.flags(i));
        }
        return out;
    }

    @Test
    void allocationIsTheOverlaysStatesOverTheGoldensOwn() throws Exception {
        Path sparse = dir.resolve("sparse.img");
        FileBlockStore.createSparse(sparse, 64 * BLOCK);
        try (FileBlockStore rw = FileBlockStore.open(sparse, false)) {
            write(rw, 0, pattern(2 * BLOCK, 1));               // golden: data in blocks 0-1, a hole after
            rw.sync();
        }
        long hz = BlockStore.STATE_HOLE | BlockStore.STATE_ZERO;
        try (FileBlockStore g = FileBlockStore.open(sparse, true)) {
            assertThat(allocation(g, 0, 64 * BLOCK, 100)).as("the golden's own allocation (SEEK_HOLE works here)")
                    .containsExactly(2L * BLOCK, 0L, 62L * BLOCK, hz);
            Path tmp = Files.createDirectories(dir.resolve("t"));
            try (OverlayBlockStore s = OverlayBlockStore.temporary(g, false, tmp)) {
                s.writeZeroes(0, BLOCK, true, false);           // block 0: ZERO over golden data
                write(s, 5 * BLOCK, pattern(BLOCK, 2));         // block 5: DATA over a golden hole
                assertThat(allocation(s, 0, 64 * BLOCK, 100)).containsExactly(BLOCK * 1L, hz, BLOCK * 1L, 0L,
                        3L * BLOCK, hz, BLOCK * 1L, 0L, 58L * BLOCK, hz);
                // from inside a block, and cut at the most extents asked for
                assertThat(allocation(s, 100, 6 * BLOCK, 2)).containsExactly(BLOCK - 100L, hz, BLOCK * 1L, 0L);
            }
        }
    }

    @Test
    void aGoldenWithAPartialLastBlockWorks() throws Exception {
        int size = 3 * BLOCK + 100;
        OverlayBlockStore s = open(size);
        assertThat(s.size()).isEqualTo(size);
        assertThat(s.map().blocks()).isEqualTo(4);
        byte[] model = golden.clone();
        byte[] tail = pattern(50, 1);
        write(s, size - 50, tail);
        System.arraycopy(tail, 0, model, size - 50, 50);
        assertThat(read(s, 0, size)).isEqualTo(model);
        byte[] span = pattern(300, 2);                     // from block 2 to the end: the last block whole
        write(s, size - 300, span);
        System.arraycopy(span, 0, model, size - 300, 300);
        assertThat(read(s, 0, size)).isEqualTo(model);
        byte[] last = pattern(100, 3);                     // exactly the last block
        write(s, 3 * BLOCK, last);
        System.arraycopy(last, 0, model, 3 * BLOCK, 100);
        assertThat(read(s, 0, size)).isEqualTo(model);
        s.writeZeroes(3 * BLOCK, 100, true, false);
        Arrays.fill(model, 3 * BLOCK, size, (byte) 0);
        assertThat(s.map().get(3)).isEqualTo(State.ZERO);
        s.writeZeroes(2 * BLOCK + 10, BLOCK + 50, true, false);
        Arrays.fill(model, 2 * BLOCK + 10, 3 * BLOCK + 60, (byte) 0);
        assertThat(read(s, 0, size)).isEqualTo(model);
        assertThat(runs(s, 0, size)).containsExactly(new Run(2 * BLOCK, State.GOLDEN), new Run(BLOCK, State.DATA),
                new Run(100, State.ZERO));
    }

    @Test
    void theTemporaryOverlayFileIsGoneOnceOpenAndAWritableGoldenIsRefused() throws Exception {
        open(4 * BLOCK);
        write(store, 0, pattern(BLOCK, 1));
        try (var files = Files.list(dir.resolve("tmp"))) {
            assertThat(files).isEmpty();
        }
        Path other = dir.resolve("other.img");
        FileBlockStore.createSparse(other, 4 * BLOCK);
        try (FileBlockStore rw = FileBlockStore.open(other, false)) {
            assertThatThrownBy(() -> OverlayBlockStore.temporary(rw, false, dir.resolve("tmp")))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessage(other + ": a golden image must be opened read-only");
        }
        try (var files = Files.list(dir.resolve("tmp"))) {
            assertThat(files).isEmpty();
        }
    }

    @Test
    void closingOneOverlayLeavesASharedGoldenOpen() throws Exception {
        open(4 * BLOCK);
        try (OverlayBlockStore second = OverlayBlockStore.temporary(goldenStore, false, dir.resolve("tmp"))) {
            write(second, 10, new byte[] {1, 2, 3});
            assertThat(read(store, 10, 3)).isEqualTo(Arrays.copyOfRange(golden, 10, 13));
        }
        assertThat(read(store, 0, golden.length)).isEqualTo(golden);
    }
}
