package dev.rbd.server.store;

import static dev.rbd.server.store.OverlayMap.BLOCK;

import dev.rbd.server.store.OverlayMap.State;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A read-only golden image seen through a private overlay: an overlay file of the golden's size (sparse) holds the
 * blocks written here, and an {@link OverlayMap} says, per 4 KiB block, whether a block reads from the golden image
 * (GOLDEN), from the overlay file (DATA) or as zeroes (ZERO). The golden image is never written.
 *
 * <p>A write of whole blocks goes to the overlay file, then the map says DATA. A partial block that is GOLDEN or
 * ZERO is first filled from the golden image or with zeroes, merged and written whole (read-modify-write) before
 * the map changes, so a block that says DATA always has all its bytes in the overlay file. Trim and write-zeroes
 * make whole blocks ZERO (punching the overlay file) and write zeroes into partial ends. Writes, trims and zeroes
 * hold striped locks over their blocks (one stripe per 64 blocks), so two read-modify-writes of one block never
 * lose each other's bytes; reads take no lock (each block reads as before or after a concurrent change).
 */
public final class OverlayBlockStore implements BlockStore {
    /** Blocks per lock stripe (256 KiB). */
    private static final int STRIPE_SHIFT = 6;
    private static final int STRIPES = 1024;

    /** Receives a range as runs of one state: {@code length} bytes, in ascending order. */
    @FunctionalInterface
    public interface RunConsumer {
        void accept(long length, State state) throws IOException;
    }

    private final BlockStore golden;
    private final boolean closeGolden;
    private final BlockStore overlay;
    private final OverlayMap map;
    private final long size;
    private final ReentrantLock[] stripes = new ReentrantLock[STRIPES];
    /** The journal of a persistent overlay; {@code null} for a temporary one. */
    private final OverlayJournaling journaling;
    /** Writes (and punches) of the overlay file on the way of requests, and how many a sync covered. */
    private final AtomicLong homeWritten = new AtomicLong();
    private final AtomicLong homeSynced = new AtomicLong();

    /**
     * @param golden      the golden image, opened read-only; only read
     * @param closeGolden whether {@link #close} closes the golden image too (false when several overlays share it)
     * @param overlay     the overlay file, of the golden's size; its blocks are meaningful only where the map says
     *                    DATA
     * @param map         the block map, of the golden's size in blocks
     */
    public OverlayBlockStore(BlockStore golden, boolean closeGolden, BlockStore overlay, OverlayMap map) {
        this(golden, closeGolden, overlay, map, null);
    }

    /**
     * @param journaling where first writes go (a persistent overlay's journal, over {@code overlay} and {@code map}),
     *                   or {@code null}: every write goes to the overlay file
     */
    OverlayBlockStore(BlockStore golden, boolean closeGolden, BlockStore overlay, OverlayMap map,
                      OverlayJournaling journaling) {
        if (golden instanceof FileBlockStore f && !f.isReadOnly()) {
            throw new IllegalArgumentException(f.path() + ": a golden image must be opened read-only");
        }
        if (overlay.size() != golden.size()) {
            throw new IllegalArgumentException("overlay size: " + overlay.size() + " (expected: " + golden.size()
                    + ", the golden image's)");
        }
        long blocks = (golden.size() + BLOCK - 1) / BLOCK;
        if (map.blocks() != blocks) {
            throw new IllegalArgumentException("map blocks: " + map.blocks() + " (expected: " + blocks + ")");
        }
        this.golden = golden;
        this.closeGolden = closeGolden;
        this.overlay = overlay;
        this.map = map;
        this.size = golden.size();
        this.journaling = journaling;
        for (int i = 0; i < STRIPES; i++) {
            stripes[i] = new ReentrantLock();
        }
    }

    /**
     * An overlay over {@code golden} kept in a file of {@code tempDir} that is deleted as soon as it is open, with an
     * in-memory map: everything written is gone when the store closes (or the process ends).
     */
    public static OverlayBlockStore temporary(BlockStore golden, boolean closeGolden, Path tempDir)
            throws IOException {
        Path file = Files.createTempFile(tempDir, "rbd-overlay-", ".tmp");   // 0600 on POSIX
        FileBlockStore overlay = null;
        try {
            try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
                f.setLength(golden.size());
            }
            overlay = FileBlockStore.open(file, false);
        } finally {
            Files.deleteIfExists(file);
        }
        try {
            return new OverlayBlockStore(golden, closeGolden, overlay, MemoryOverlayMap.forSize(golden.size()));
        } catch (RuntimeException e) {
            overlay.close();
            throw e;
        }
    }

    /** The map, for tests and block status. */
    OverlayMap map() {
        return map;
    }

    @Override
    public long size() {
        return size;
    }

    @Override
    public void read(long offset, ByteBuf dst, int length) throws IOException {
        dst.ensureWritable(length);
        if (length == 0) {
            return;
        }
        long first = offset / BLOCK;
        long last = (offset + length - 1) / BLOCK;
        if (journaling == null || !journaling.anyPending(first, last)) {
            readMapped(offset, dst, length);
            return;
        }
        // blocks whose newest content is in the journal read from there, the rest as the map says
        int start = dst.writerIndex();
        long end = offset + length;
        long pos = offset;
        try {
            for (long b : journaling.pending(first, last).keySet()) {
                long blockStart = b * BLOCK;
                if (blockStart + BLOCK <= pos) {
                    continue;
                }
                if (pos < blockStart) {
                    readMapped(pos, dst, (int) (blockStart - pos));
                    pos = blockStart;
                }
                int n = (int) (Math.min(end, Math.min(size, blockStart + BLOCK)) - pos);
                if (!journaling.read(b, dst, (int) (pos - blockStart), n)) {
                    readMapped(pos, dst, n);   // checkpointed meanwhile: the map says DATA now
                }
                pos += n;
            }
            if (pos < end) {
                readMapped(pos, dst, (int) (end - pos));
            }
        } catch (IOException | RuntimeException e) {
            dst.writerIndex(start);
            throw e;
        }
    }

    /** {@link #read} of a range as the map says (no block of it pending in the journal, or none that matters). */
    private void readMapped(long offset, ByteBuf dst, int length) throws IOException {
        int start = dst.writerIndex();
        try {
            mapRuns(offset, length, new RunConsumer() {
                long pos = offset;

                @Override
                public void accept(long n, State state) throws IOException {
                    switch (state) {
                        case GOLDEN -> golden.read(pos, dst, (int) n);
                        case DATA -> overlay.read(pos, dst, (int) n);
                        case ZERO -> dst.writeZero((int) n);
                    }
                    pos += n;
                }
            });
        } catch (IOException | RuntimeException e) {
            dst.writerIndex(start);
            throw e;
        }
    }

    /**
     * Reads like {@link #read} when every run of the range is in memory: golden and overlay runs through their stores'
     * {@code readIfCached}, zero runs as zeroes. A boot storm's golden reads, in the page cache, are answered on the
     * event loop this way, as a plain export's are.
     */
    @Override
    public boolean readIfCached(long offset, ByteBuf dst, int length) {
        if (dst.writableBytes() < length) {
            return false;
        }
        if (journaling != null && length > 0
                && journaling.anyPending(offset / BLOCK, (offset + length - 1) / BLOCK)) {
            return false;
        }
        int start = dst.writerIndex();
        long end = offset + length;
        long pos = offset;
        while (pos < end) {
            long b = pos / BLOCK;
            State state = map.get(b);
            // the run of blocks in this state, within the range
            long runEnd = Math.min(end, (b + 1) * BLOCK);
            while (runEnd < end && map.get(runEnd / BLOCK) == state) {
                runEnd = Math.min(end, runEnd + BLOCK);
            }
            int n = (int) (runEnd - pos);
            boolean done = switch (state) {
                case GOLDEN -> golden.readIfCached(pos, dst, n);
                case DATA -> overlay.readIfCached(pos, dst, n);
                case ZERO -> {
                    dst.writeZero(n);
                    yield true;
                }
            };
            if (!done) {
                dst.writerIndex(start);
                return false;
            }
            pos = runEnd;
        }
        return true;
    }

    /** The golden image this overlay is over (read-only: never write to it). */
    public BlockStore golden() {
        return golden;
    }

    /**
     * Gives {@code [offset, offset + length)} as runs of one state, in order; the lengths add up to {@code length}.
     * What block status reports: {@code base:allocation} DATA as data, ZERO as a zero hole, GOLDEN as the golden
     * image's own allocation; {@code qemu:allocation-depth} DATA and ZERO as 1, GOLDEN as 2 where the golden image
     * has data and 0 where it has a hole.
     */
    public void runs(long offset, long length, RunConsumer consumer) throws IOException {
        if (length <= 0) {
            return;
        }
        long first = offset / BLOCK;
        long last = (offset + length - 1) / BLOCK;
        if (journaling == null || !journaling.anyPending(first, last)) {
            mapRuns(offset, length, consumer);
            return;
        }
        // pending blocks are DATA (the map learns so at the next checkpoint); neighbours of one state merge
        long end = offset + length;
        RunConsumer merged = new RunConsumer() {
            long held;
            State heldState;

            @Override
            public void accept(long n, State state) throws IOException {
                if (state != heldState && held > 0) {
                    consumer.accept(held, heldState);
                    held = 0;
                }
                heldState = state;
                held += n;
            }
        };
        long pos = offset;
        for (long b : journaling.pending(first, last).keySet()) {
            long blockStart = b * BLOCK;
            if (blockStart + BLOCK <= pos) {
                continue;
            }
            if (pos < blockStart) {
                mapRuns(pos, blockStart - pos, merged);
                pos = blockStart;
            }
            long to = Math.min(end, Math.min(size, blockStart + BLOCK));
            merged.accept(to - pos, State.DATA);
            pos = to;
        }
        if (pos < end) {
            mapRuns(pos, end - pos, merged);
        }
        merged.accept(0, null);   // hands on the last run
    }

    /** {@link #runs} as the map alone says. */
    private void mapRuns(long offset, long length, RunConsumer consumer) throws IOException {
        if (length <= 0) {
            return;
        }
        long end = offset + length;
        long first = offset / BLOCK;
        long last = (end - 1) / BLOCK;
        IOException[] failed = new IOException[1];
        map.runs(first, last - first + 1, (b, count, state) -> {
            if (failed[0] != null) {
                return;
            }
            long from = Math.max(offset, b * BLOCK);
            long to = Math.min(end, (b + count) * BLOCK);
            try {
                consumer.accept(to - from, state);
            } catch (IOException e) {
                failed[0] = e;
            }
        });
        if (failed[0] != null) {
            throw failed[0];
        }
    }

    /**
     * {@code base:allocation} of what this client sees: blocks it wrote are data, blocks it trimmed or zeroed are
     * zero holes, and the rest is whatever the golden image says of itself.
     */
    @Override
    public void allocation(Extents out) throws IOException {
        long[] pos = {out.position()};
        runs(pos[0], out.remaining(), (n, state) -> {
            if (!out.full()) {
                switch (state) {
                    case DATA -> out.add(n, 0);
                    case ZERO -> out.add(n, STATE_HOLE | STATE_ZERO);
                    case GOLDEN -> {
                        Extents golden = new Extents(pos[0], n, Integer.MAX_VALUE);
                        this.golden.allocation(golden);
                        for (int i = 0; i < golden.count(); i++) {
                            out.add(golden.length(i), golden.flags(i));
                        }
                        if (golden.covered() < n) {
                            out.add(n - golden.covered(), 0);   // what the golden left undescribed: data
                        }
                    }
                }
            }
            pos[0] += n;
        });
    }

    @Override
    public void write(long offset, ByteBuf src) throws IOException {
        int length = src.readableBytes();
        if (length == 0) {
            return;
        }
        long end = offset + length;
        long first = offset / BLOCK;
        long last = (end - 1) / BLOCK;
        lock(first, last);
        try {
            if (journaling != null) {
                if (last - first < journaling.maxBlocks() && wantsJournal(first, last) && journaling.ready()) {
                    journalWrite(offset, src, first, last);
                    return;
                }
                journaling.settle(first, last);   // the overlay file must not take a block the journal would replay
            }
            try {
                long pos = offset;
                while (pos < end) {
                    long b = pos / BLOCK;
                    long blockStart = b * BLOCK;
                    long blockEnd = Math.min(blockStart + BLOCK, size);
                    if (pos == blockStart && end >= blockEnd) {
                        // whole blocks, as many as there are in a row
                        long wholeEnd = end >= size ? size : end / BLOCK * BLOCK;
                        overlay.write(pos, src.slice(src.readerIndex() + (int) (pos - offset),
                                (int) (wholeEnd - pos)));
                        map.set(b, (wholeEnd - pos + BLOCK - 1) / BLOCK, State.DATA);
                        pos = wholeEnd;
                    } else {
                        long to = Math.min(end, blockEnd);
                        writePartial(b, pos, src.slice(src.readerIndex() + (int) (pos - offset), (int) (to - pos)));
                        pos = to;
                    }
                }
            } finally {
                homeWritten.incrementAndGet();   // after the writes: a sync that sees it began after them
            }
        } finally {
            unlock(first, last);
        }
    }

    /**
     * Whether a write of blocks {@code [first, last]} changes what the map must say: a block of it is pending in the
     * journal or not DATA. A rewrite of blocks the map already has as DATA goes into the overlay file in place.
     */
    private boolean wantsJournal(long first, long last) {
        if (journaling.anyPending(first, last)) {
            return true;
        }
        for (long b = first; b <= last; b++) {
            if (map.get(b) != State.DATA) {
                return true;
            }
        }
        return false;
    }

    /**
     * Writes {@code src} at {@code offset} (blocks {@code [first, last]}) as whole-block journal records: a block it
     * covers in part is filled from what it reads as now. Holds the blocks' locks.
     */
    private void journalWrite(long offset, ByteBuf src, long first, long last) throws IOException {
        int n = (int) (last - first + 1);
        long end = offset + src.readableBytes();
        ByteBuf records = PooledByteBufAllocator.DEFAULT.directBuffer(n * OverlayJournal.RECORD);
        try {
            records.setZero(0, n * OverlayJournal.RECORD);
            for (int i = 0; i < n; i++) {
                long blockStart = (first + i) * BLOCK;
                int blockLength = (int) (Math.min(blockStart + BLOCK, size) - blockStart);
                int at = i * OverlayJournal.RECORD + OverlayJournal.RECORD_HEADER;
                long from = Math.max(offset, blockStart);
                long to = Math.min(end, blockStart + blockLength);
                if (from > blockStart || to < blockStart + blockLength) {
                    records.writerIndex(at);
                    read(blockStart, records, blockLength);
                }
                records.setBytes(at + (int) (from - blockStart), src, src.readerIndex() + (int) (from - offset),
                        (int) (to - from));
            }
            journaling.write(first, n, records.nioBuffer(0, n * OverlayJournal.RECORD));
        } finally {
            records.release();
        }
    }

    /** Writes {@code part} at {@code pos} inside block {@code b}, which it does not cover whole; holds b's lock. */
    private void writePartial(long b, long pos, ByteBuf part) throws IOException {
        State state = map.get(b);
        if (state == State.DATA) {
            overlay.write(pos, part);
            return;
        }
        long blockStart = b * BLOCK;
        int blockLength = (int) (Math.min(blockStart + BLOCK, size) - blockStart);
        ByteBuf whole = PooledByteBufAllocator.DEFAULT.directBuffer(blockLength);
        try {
            if (state == State.GOLDEN) {
                golden.read(blockStart, whole, blockLength);
            } else {
                whole.writeZero(blockLength);
            }
            whole.setBytes((int) (pos - blockStart), part, part.readerIndex(), part.readableBytes());
            overlay.write(blockStart, whole);
        } finally {
            whole.release();
        }
        map.set(b, 1, State.DATA);
    }

    @Override
    public void sync() throws IOException {
        map.sync(this::syncData);
    }

    @Override
    public SyncStep syncStaged() throws IOException {
        return map.syncStaged(this::syncData);
    }

    /** The first step of a sync: the journal's records and the overlay file's writes, each if there were any. */
    private void syncData() throws IOException {
        if (journaling != null) {
            journaling.force();
        }
        long w = homeWritten.get();
        if (w != homeSynced.get()) {
            overlay.sync();
            homeSynced.accumulateAndGet(w, Math::max);
        }
    }

    /** Like {@link #writeZeroes}: the golden image must not show through a trimmed range, so it reads as zeroes. */
    @Override
    public void trim(long offset, long length) throws IOException {
        zero(offset, length, true);
    }

    /** Always fast: whole blocks only change state; partial ends are one block write each. */
    @Override
    public void writeZeroes(long offset, long length, boolean mayPunch, boolean fastOnly) throws IOException {
        zero(offset, length, mayPunch);
    }

    private void zero(long offset, long length, boolean mayPunch) throws IOException {
        if (length <= 0) {
            return;
        }
        long end = offset + length;
        long first = offset / BLOCK;
        long last = (end - 1) / BLOCK;
        // whole blocks: [wholeFirst, wholeEnd) in bytes
        long wholeStart = (offset + BLOCK - 1) / BLOCK * BLOCK;
        long wholeEnd = end >= size ? size : end / BLOCK * BLOCK;
        lock(first, last);
        try {
            if (journaling != null) {
                journaling.settle(first, last);   // the map changes directly: no record may replay over it
            }
            if (wholeStart < wholeEnd) {
                map.set(wholeStart / BLOCK, (wholeEnd - wholeStart + BLOCK - 1) / BLOCK, State.ZERO);
                if (mayPunch) {
                    overlay.trim(wholeStart, wholeEnd - wholeStart);
                }
            }
            if (offset < Math.min(wholeStart, end)) {
                zeroPartial(offset, Math.min(wholeStart, end));
            }
            if (wholeEnd < end && Math.max(wholeEnd, offset) >= wholeStart) {
                zeroPartial(Math.max(wholeEnd, offset), end);
            }
        } finally {
            homeWritten.incrementAndGet();
            unlock(first, last);
        }
    }

    /** Zeroes {@code [from, to)}, a part of one block; holds its lock. */
    private void zeroPartial(long from, long to) throws IOException {
        long b = from / BLOCK;
        if (map.get(b) == State.ZERO) {
            return;
        }
        ByteBuf zeroes = PooledByteBufAllocator.DEFAULT.directBuffer((int) (to - from));
        try {
            zeroes.writeZero((int) (to - from));
            writePartial(b, from, zeroes);
        } finally {
            zeroes.release();
        }
    }

    @Override
    public void cache(long offset, long length) throws IOException {
        golden.cache(offset, length);
    }

    @Override
    public boolean canTrim() {
        return true;
    }

    @Override
    public boolean canFastZero() {
        return true;
    }

    @Override
    public String describe() {
        return "overlay of " + golden.describe();
    }

    @Override
    public void close() throws IOException {
        try (BlockStore g = closeGolden ? golden : null; OverlayMap m = map; BlockStore o = overlay) {
            if (journaling != null) {
                journaling.close();   // checkpoints: the map and the overlay file take the journal's blocks
            }
        }
    }

    /** Locks the stripes of blocks {@code [first, last]} in ascending stripe order, so lockers never deadlock. */
    private void lock(long first, long last) {
        long g0 = first >>> STRIPE_SHIFT;
        long g1 = last >>> STRIPE_SHIFT;
        if (g1 - g0 + 1 >= STRIPES) {
            for (ReentrantLock l : stripes) {
                l.lock();
            }
            return;
        }
        int s0 = (int) (g0 % STRIPES);
        int s1 = (int) (g1 % STRIPES);
        if (s0 <= s1) {
            for (int s = s0; s <= s1; s++) {
                stripes[s].lock();
            }
        } else {
            for (int s = 0; s <= s1; s++) {
                stripes[s].lock();
            }
            for (int s = s0; s < STRIPES; s++) {
                stripes[s].lock();
            }
        }
    }

    private void unlock(long first, long last) {
        long g0 = first >>> STRIPE_SHIFT;
        long g1 = last >>> STRIPE_SHIFT;
        if (g1 - g0 + 1 >= STRIPES) {
            for (ReentrantLock l : stripes) {
                l.unlock();
            }
            return;
        }
        int s0 = (int) (g0 % STRIPES);
        int s1 = (int) (g1 % STRIPES);
        if (s0 <= s1) {
            for (int s = s0; s <= s1; s++) {
                stripes[s].unlock();
            }
        } else {
            for (int s = 0; s <= s1; s++) {
                stripes[s].unlock();
            }
            for (int s = s0; s < STRIPES; s++) {
                stripes[s].unlock();
            }
        }
    }
}
