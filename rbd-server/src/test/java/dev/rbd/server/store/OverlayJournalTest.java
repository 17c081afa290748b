package dev.rbd.server.store;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rbd.server.store.OverlayMap.State;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A persistent overlay's journal: first writes go there and read back before and after a checkpoint; what a crash
 * leaves in it (the files as they are after a sync, copied while the overlay is open) is replayed by the next open,
 * read by {@code overlays list} and {@code overlays commit}; a torn record leaves its block at the old content; a
 * journal of an older overlay of the same client is not replayed; a full journal checkpoints in the writer, also
 * under concurrent writers and readers.
 */
class OverlayJournalTest {
    /** 4 MiB and a partial last block. */
    private static final int SIZE = (4 << 20) + 1000;
    private static final int BLOCK = OverlayMap.BLOCK;

    @TempDir
    Path tmp;

    private Path dir;
    private Path goldenPath;
    private byte[] golden;
    private FileBlockStore goldenStore;
    private GoldenFingerprint fingerprint;

    @BeforeEach
    void makeGolden() throws IOException {
        dir = Files.createDirectories(tmp.resolve("overlays"));
        goldenPath = tmp.resolve("golden.img");
        golden = new byte[SIZE];
        new Random(11).nextBytes(golden);
        Files.write(goldenPath, golden);
        goldenStore = FileBlockStore.open(goldenPath, true);
        fingerprint = GoldenFingerprint.of(goldenPath);
    }

    @AfterEach
    void closeGolden() throws IOException {
        goldenStore.close();
    }

    private OverlayBlockStore open(Path in, String client) throws IOException {
        return PersistentOverlay.open(in, client, goldenStore, goldenPath, fingerprint);
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
        ByteBuf b = Unpooled.wrappedBuffer(data);
        try {
            s.write(offset, b);
        } finally {
            b.release();
        }
    }

    private static byte[] filled(int length, int value) {
        byte[] b = new byte[length];
        Arrays.fill(b, (byte) value);
        return b;
    }

    /** The overlay's files as a crash would leave them after the last sync: copied into a new directory. */
    private Path crashCopy(String client) throws IOException {
        Path copy = Files.createDirectories(tmp.resolve("crash-" + System.nanoTime()));
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.filter(f -> f.getFileName().toString().startsWith(client + ".")).toList()) {
                Files.copy(f, copy.resolve(f.getFileName()));
            }
        }
        return copy;
    }

    private static byte[] fileBytes(Path p, long offset, int length) throws IOException {
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ)) {
            ByteBuffer b = ByteBuffer.allocate(length);
            while (b.hasRemaining() && ch.read(b, offset + b.position()) > 0) {
                // to the end
            }
            return b.array();
        }
    }

    @Test
    void aFirstWriteGoesToTheJournalAndReadsBackBeforeAndAfterTheCheckpoint() throws Exception {
        byte[] view = golden.clone();
        try (OverlayBlockStore s = open(dir, "h")) {
            write(s, 5 * BLOCK, filled(BLOCK, 0xa5));
            System.arraycopy(filled(BLOCK, 0xa5), 0, view, 5 * BLOCK, BLOCK);
            write(s, 9 * BLOCK + 100, filled(50, 0x33));   // partial: filled from the golden image
            System.arraycopy(filled(50, 0x33), 0, view, 9 * BLOCK + 100, 50);
            s.sync();
            assertThat(Files.exists(OverlayJournal.file(dir, "h"))).as("journal made by the first write").isTrue();
            assertThat(fileBytes(PersistentOverlay.dataFile(dir, "h"), 5 * BLOCK, BLOCK))
                    .as("the overlay file before a checkpoint").isEqualTo(new byte[BLOCK]);
            assertThat(s.map().get(5)).as("the map before a checkpoint").isEqualTo(State.GOLDEN);
            assertThat(read(s, 0, SIZE)).isEqualTo(view);
            List<String> runs = new ArrayList<>();
            s.runs(4 * BLOCK, 7 * BLOCK, (n, st) -> runs.add(n + ":" + st));
            assertThat(runs).as("block status sees journal blocks as data")
                    .containsExactly(BLOCK + ":GOLDEN", BLOCK + ":DATA", 3 * BLOCK + ":GOLDEN", BLOCK + ":DATA",
                            BLOCK + ":GOLDEN");
            // a rewrite of a block still in the journal goes there too, and wins
            write(s, 5 * BLOCK + 10, filled(20, 0x77));
            System.arraycopy(filled(20, 0x77), 0, view, 5 * BLOCK + 10, 20);
            assertThat(read(s, 0, SIZE)).isEqualTo(view);
        }
        assertThat(fileBytes(PersistentOverlay.dataFile(dir, "h"), 5 * BLOCK, BLOCK))
                .as("the overlay file after the checkpoint of close")
                .isEqualTo(Arrays.copyOfRange(view, 5 * BLOCK, 6 * BLOCK));
        try (OverlayBlockStore s = open(dir, "h")) {
            assertThat(s.map().get(5)).isEqualTo(State.DATA);
            assertThat(s.map().get(9)).isEqualTo(State.DATA);
            assertThat(read(s, 0, SIZE)).isEqualTo(view);
        }
    }

    @Test
    void whatACrashLeftInTheJournalIsReplayedListedAndCommitted() throws Exception {
        byte[] view = golden.clone();
        Path crashed;
        try (OverlayBlockStore s = open(dir, "h")) {
            for (int i = 0; i < 40; i++) {
                long at = (long) (i * 7 % 1000) * BLOCK;
                write(s, at, filled(BLOCK, i + 1));
                System.arraycopy(filled(BLOCK, i + 1), 0, view, (int) at, BLOCK);
            }
            write(s, SIZE - 10, filled(10, 0xee));   // the short last block
            System.arraycopy(filled(10, 0xee), 0, view, SIZE - 10, 10);
            s.sync();
            crashed = crashCopy("h");
        }
        PersistentOverlay.Info info = PersistentOverlay.info(crashed, "h");
        assertThat(info.blocksWritten()).as("blocks written, counted from the journal").isEqualTo(41);

        Path committed = tmp.resolve("committed.img");
        goldenStore.close();   // commit opens the golden image itself
        OverlayCommit.commit(crashed, "h", committed);
        goldenStore = FileBlockStore.open(goldenPath, true);
        assertThat(Files.readAllBytes(committed)).as("commit of the crashed overlay").isEqualTo(view);

        try (OverlayBlockStore s = open(crashed, "h")) {
            assertThat(read(s, 0, SIZE)).as("after the replay").isEqualTo(view);
            assertThat(((FileOverlayMap) s.map()).counts()[1]).as("blocks the map says DATA after the replay").isEqualTo(41);
        }
        try (OverlayBlockStore s = open(crashed, "h")) {
            assertThat(read(s, 0, SIZE)).as("opened once more: nothing replayed twice wrong").isEqualTo(view);
        }
    }

    @Test
    void aTornRecordLeavesItsBlockAtItsOldContent() throws Exception {
        byte[] view = golden.clone();
        Path crashed;
        try (OverlayBlockStore s = open(dir, "h")) {
            write(s, 3 * BLOCK, filled(BLOCK, 0x11));
            write(s, 4 * BLOCK, filled(BLOCK, 0x22));
            System.arraycopy(filled(BLOCK, 0x22), 0, view, 4 * BLOCK, BLOCK);
            s.sync();
            crashed = crashCopy("h");
        }
        // the first record (block 3) torn: a byte of its data never reached the disk
        try (FileChannel ch = FileChannel.open(OverlayJournal.file(crashed, "h"), StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(new byte[] {0}), OverlayJournal.RECORDS_AT + OverlayJournal.RECORD
                    + OverlayJournal.RECORD_HEADER + 100);   // record 1 in slot 1
        }
        try (OverlayBlockStore s = open(crashed, "h")) {
            assertThat(read(s, 0, SIZE)).as("block 3 golden again, block 4 written").isEqualTo(view);
            assertThat(s.map().get(3)).isEqualTo(State.GOLDEN);
        }
    }

    @Test
    void aJournalOfAnOlderOverlayOfTheClientIsNotReplayed() throws Exception {
        Path old;
        try (OverlayBlockStore s = open(dir, "h")) {
            write(s, 0, filled(BLOCK, 0x44));
            s.sync();
            old = crashCopy("h");
        }
        PersistentOverlay.reset(dir, "h");
        assertThat(Files.exists(OverlayJournal.file(dir, "h"))).as("reset removes the journal").isFalse();
        try (OverlayBlockStore s = open(dir, "h")) {
            assertThat(read(s, 0, BLOCK)).isEqualTo(Arrays.copyOf(golden, BLOCK));
        }
        // the old overlay's journal put back beside the new overlay (a crash during a reset, a careless copy)
        Files.copy(OverlayJournal.file(old, "h"), OverlayJournal.file(dir, "h"),
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        try (OverlayBlockStore s = open(dir, "h")) {
            assertThat(read(s, 0, BLOCK)).as("not replayed").isEqualTo(Arrays.copyOf(golden, BLOCK));
        }
    }

    @Test
    void zeroingAndLargeWritesOverJournalBlocksComeAfterThem() throws Exception {
        byte[] view = golden.clone();
        try (OverlayBlockStore s = open(dir, "h")) {
            write(s, 20 * BLOCK, filled(2 * BLOCK, 0x55));
            s.trim(20 * BLOCK, BLOCK);
            write(s, 30 * BLOCK, filled(BLOCK, 0x66));
            write(s, 0, filled(100 * BLOCK, 0x67));   // larger than a journal write: to the overlay file
            Arrays.fill(view, 0, 100 * BLOCK, (byte) 0x67);
            write(s, 200 * BLOCK, filled(BLOCK, 0x68));
            s.writeZeroes(200 * BLOCK + 100, 200, false, false);
            System.arraycopy(filled(BLOCK, 0x68), 0, view, 200 * BLOCK, BLOCK);
            Arrays.fill(view, 200 * BLOCK + 100, 200 * BLOCK + 300, (byte) 0);
            s.sync();
            assertThat(read(s, 0, SIZE)).isEqualTo(view);
            Path crashed = crashCopy("h");
            try (OverlayBlockStore c = open(crashed, "h")) {
                assertThat(read(c, 0, SIZE)).as("after a crash").isEqualTo(view);
            }
        }
    }

    /** A journal of 16 slots, so that writers fill it and checkpoint again and again, with readers alongside. */
    @Test
    void aSmallJournalUnderConcurrentWritersAndReadersLosesNothing() throws Exception {
        Path home = tmp.resolve("home.img");
        FileBlockStore.createSparse(home, SIZE);
        FileBlockStore homeStore = FileBlockStore.open(home, false);
        MemoryOverlayMap map = MemoryOverlayMap.forSize(SIZE);
        OverlayJournaling journaling = new OverlayJournaling(tmp.resolve("small.journal"), 1, 16, null, homeStore,
                map, "test overlay");
        int threads = 4;
        int perThread = 300;
        byte[][] expected = new byte[threads][];
        try (OverlayBlockStore s = new OverlayBlockStore(goldenStore, false, homeStore, map, journaling)) {
            ExecutorService pool = Executors.newFixedThreadPool(threads);
            try {
                List<Future<?>> done = new ArrayList<>();
                for (int t = 0; t < threads; t++) {
                    int thread = t;
                    done.add(pool.submit(() -> {
                        // each thread owns blocks thread, thread + threads, ... of the first 256
                        Random r = new Random(thread);
                        byte[] mine = new byte[256 / threads * BLOCK];
                        for (int i = 0; i < mine.length / BLOCK; i++) {
                            System.arraycopy(golden, (i * threads + thread) * BLOCK, mine, i * BLOCK, BLOCK);
                        }
                        for (int i = 0; i < perThread; i++) {
                            int slot = r.nextInt(256 / threads);
                            long at = (long) (slot * threads + thread) * BLOCK;
                            int off = r.nextInt(BLOCK / 2);
                            byte[] data = new byte[1 + r.nextInt(BLOCK - off)];
                            r.nextBytes(data);
                            write(s, at + off, data);
                            System.arraycopy(data, 0, mine, slot * BLOCK + off, data.length);
                            assertThat(read(s, at, BLOCK))
                                    .isEqualTo(Arrays.copyOfRange(mine, slot * BLOCK, slot * BLOCK + BLOCK));
                        }
                        expected[thread] = mine;
                        return null;
                    }));
                }
                for (Future<?> f : done) {
                    f.get();
                }
            } finally {
                pool.shutdownNow();
            }
            s.sync();
            byte[] all = read(s, 0, 256 * BLOCK);
            for (int b = 0; b < 256; b++) {
                int t = b % threads;
                int slot = b / threads;
                assertThat(Arrays.copyOfRange(all, b * BLOCK, (b + 1) * BLOCK)).as("block %d", b)
                        .isEqualTo(Arrays.copyOfRange(expected[t], slot * BLOCK, (slot + 1) * BLOCK));
            }
        }
        // closed: everything checkpointed into the overlay file, and the map says DATA for what was written
        byte[] homeBytes = Files.readAllBytes(home);
        for (int b = 0; b < 256; b++) {
            int t = b % threads;
            int slot = b / threads;
            if (map.get(b) == State.DATA) {
                assertThat(Arrays.copyOfRange(homeBytes, b * BLOCK, (b + 1) * BLOCK)).as("home block %d", b)
                        .isEqualTo(Arrays.copyOfRange(expected[t], slot * BLOCK, (slot + 1) * BLOCK));
            }
        }
    }

    /** A store whose writes fail while {@code full} is set, as a full disk's would. */
    private static final class FillingStore implements BlockStore {
        private final BlockStore delegate;
        volatile boolean full;

        FillingStore(BlockStore delegate) {
            this.delegate = delegate;
        }

        @Override
        public long size() {
            return delegate.size();
        }

        @Override
        public void read(long offset, ByteBuf dst, int length) throws IOException {
            delegate.read(offset, dst, length);
        }

        @Override
        public void write(long offset, ByteBuf src) throws IOException {
            if (full) {
                throw new IOException("No space left on device");
            }
            delegate.write(offset, src);
        }

        @Override
        public void sync() throws IOException {
            delegate.sync();
        }

        @Override
        public void trim(long offset, long length) throws IOException {
            delegate.trim(offset, length);
        }

        @Override
        public void writeZeroes(long offset, long length, boolean mayPunch, boolean fastOnly) throws IOException {
            delegate.writeZeroes(offset, length, mayPunch, fastOnly);
        }

        @Override
        public void cache(long offset, long length) throws IOException {
            delegate.cache(offset, length);
        }

        @Override
        public boolean canTrim() {
            return delegate.canTrim();
        }

        @Override
        public boolean canFastZero() {
            return delegate.canFastZero();
        }

        @Override
        public String describe() {
            return delegate.describe();
        }

        @Override
        public void close() throws IOException {
            delegate.close();
        }
    }

    /**
     * A checkpoint that cannot copy into a full overlay file fails only the write that waits for room; the journal
     * keeps its blocks (they read back), and once there is room again the writes go on and nothing is lost.
     */
    @Test
    void aFailedCheckpointFailsOnlyTheWriteThatWaitsAndIsTriedAgain() throws Exception {
        Path home = tmp.resolve("home.img");
        FileBlockStore.createSparse(home, SIZE);
        FillingStore homeStore = new FillingStore(FileBlockStore.open(home, false));
        MemoryOverlayMap map = MemoryOverlayMap.forSize(SIZE);
        OverlayJournaling journaling = new OverlayJournaling(tmp.resolve("small.journal"), 1, 16, null, homeStore,
                map, "test overlay");
        byte[] view = golden.clone();
        try (OverlayBlockStore s = new OverlayBlockStore(goldenStore, false, homeStore, map, journaling)) {
            homeStore.full = true;
            int b = 0;
            IOException failed = null;
            for (; b < 100 && failed == null; b++) {
                try {
                    write(s, (long) b * BLOCK, filled(BLOCK, b + 1));
                    System.arraycopy(filled(BLOCK, b + 1), 0, view, b * BLOCK, BLOCK);
                } catch (IOException e) {
                    failed = e;
                }
            }
            assertThat(failed).as("a write once the journal is full and cannot be checkpointed").isNotNull()
                    .hasMessageContaining("No space left");
            assertThat(b).as("writes the journal took first").isGreaterThan(8);
            assertThat(read(s, 0, SIZE)).as("journal blocks read back; the failed write changed nothing")
                    .isEqualTo(view);
            homeStore.full = false;
            for (int i = 0; i < 40; i++) {
                write(s, (long) (200 + i) * BLOCK, filled(BLOCK, 0x80 + i));
                System.arraycopy(filled(BLOCK, 0x80 + i), 0, view, (200 + i) * BLOCK, BLOCK);
            }
            assertThat(read(s, 0, SIZE)).isEqualTo(view);
        }
        assertThat(Arrays.copyOfRange(Files.readAllBytes(home), 0, BLOCK)).as("checkpointed at last")
                .isEqualTo(filled(BLOCK, 1));
    }
}
