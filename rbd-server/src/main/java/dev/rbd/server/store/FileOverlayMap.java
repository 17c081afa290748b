package dev.rbd.server.store;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * An {@link OverlayMap} kept in a file: reads and sets work on a {@link MemoryOverlayMap}; {@link #sync} writes the
 * 4 KiB pages of the file whose blocks changed. On disk each block has 2 bits, 4 blocks a byte (block {@code i} in
 * bits {@code 2 (i % 4)} of byte {@code i / 4}): 0 GOLDEN, 1 DATA, 2 ZERO; 3 is never written, and reading one means
 * the file is corrupt. A block's two bits share a byte, so a crash that tears a page write still leaves each block
 * in its old state or its new one.
 *
 * <p>{@link #sync} first copies the changed pages (a state set before that is described there), then syncs the
 * overlay's data, then writes and syncs the pages: a page on disk never says DATA for a block whose data is not
 * durable. {@link #syncStaged} leaves the last step to its caller, so that group commit can write one batch's pages
 * while the next batch's data syncs; a page on disk never goes back to an older copy. A set that happens during a
 * sync marks its page again, for the next one. No lock is taken on the way of
 * sets: the page copy may see a set half done (both bits of a block on), which reads as DATA, the state a set to
 * DATA ends in and the one a set to ZERO starts from.
 */
final class FileOverlayMap implements OverlayMap {
    static final int PAGE = 4096;
    /** Blocks per page of the file: 4 per byte. */
    static final int PAGE_BLOCKS = PAGE * 4;
    private static final int WORDS_PER_PAGE = PAGE_BLOCKS / 64;

    private final MemoryOverlayMap live;
    private final FileChannel channel;
    /** Where the map starts in the file. */
    private final long offset;
    private final int pages;
    /** One bit per page: changed since it was last copied for writing. */
    private final AtomicLongArray dirty;
    /** Syncs that copied pages so far (guarded by this). */
    private long copied;
    /** Per page, the sync whose copy of it is on disk (0: none since opened); guards the page writes. */
    private final long[] written;

    private FileOverlayMap(MemoryOverlayMap live, FileChannel channel, long offset) {
        this.live = live;
        this.channel = channel;
        this.offset = offset;
        this.pages = pages(live.blocks());
        this.dirty = new AtomicLongArray((pages + 63) / 64);
        this.written = new long[pages];
    }

    /** Pages of a map of {@code blocks} blocks. */
    static int pages(long blocks) {
        long p = (blocks + PAGE_BLOCKS - 1) / PAGE_BLOCKS;
        if (p > Integer.MAX_VALUE / PAGE) {
            throw new IllegalArgumentException("blocks: " + blocks + " (too many for one overlay map)");
        }
        return (int) p;
    }

    /** Bytes of a map of {@code blocks} blocks on disk (whole pages). */
    static long bytes(long blocks) {
        return (long) pages(blocks) * PAGE;
    }

    /**
     * Loads the map of {@code blocks} blocks at {@code offset} of {@code channel}, which it then owns (closes).
     *
     * @throws CorruptOverlayException a block has the state 3, or the padding after the last block is not 0
     */
    static FileOverlayMap load(FileChannel channel, long offset, long blocks, String what) throws IOException {
        MemoryOverlayMap live = new MemoryOverlayMap(blocks);
        int pages = pages(blocks);
        ByteBuffer page = ByteBuffer.allocate(PAGE);
        for (int p = 0; p < pages; p++) {
            page.clear();
            long at = offset + (long) p * PAGE;
            while (page.hasRemaining()) {
                if (channel.read(page, at + page.position()) < 0) {
                    throw new CorruptOverlayException(what + ": the block map ends early, at byte "
                            + (at + page.position()));
                }
            }
            page.flip().order(ByteOrder.LITTLE_ENDIAN);
            for (int wi = 0; wi < WORDS_PER_PAGE; wi++) {
                long w = (long) p * WORDS_PER_PAGE + wi;
                long lo = page.getLong();
                long hi = page.getLong();
                if ((lo | hi) == 0) {
                    continue;
                }
                long invalid = (lo & (lo >>> 1) & EVEN) | (hi & (hi >>> 1) & EVEN);
                long d = compact(lo & EVEN) | compact(hi & EVEN) << 32;
                long z = compact(lo >>> 1 & EVEN) | compact(hi >>> 1 & EVEN) << 32;
                long past = w * 64 + 64 <= blocks ? 0 : w * 64 >= blocks ? -1L : -1L << (blocks - w * 64);
                if (invalid != 0 || ((d | z) & past) != 0) {
                    long bad = invalid != 0 ? w * 64 + Long.numberOfTrailingZeros(invalid) / 2
                            : w * 64 + Long.numberOfTrailingZeros((d | z) & past);
                    throw new CorruptOverlayException(what + ": the block map is corrupt ("
                            + (invalid != 0 ? "an invalid state" : "a state past the image's end") + " for block "
                            + bad + ")");
                }
                live.loadWord((int) w, d, z);
            }
        }
        return new FileOverlayMap(live, channel, offset);
    }

    @Override
    public long blocks() {
        return live.blocks();
    }

    @Override
    public State get(long block) {
        return live.get(block);
    }

    @Override
    public void set(long first, long count, State state) {
        live.set(first, count, state);
        if (count > 0) {
            markDirty(first / PAGE_BLOCKS, (first + count - 1) / PAGE_BLOCKS);
        }
    }

    @Override
    public void runs(long first, long count, RunVisitor visitor) {
        live.runs(first, count, visitor);
    }

    /** Counts the blocks in each state: {GOLDEN, DATA, ZERO}. */
    long[] counts() {
        long[] n = new long[3];
        live.runs(0, live.blocks(), (b, c, s) -> n[s.ordinal()] += c);
        return n;
    }

    @Override
    public BlockStore.SyncStep syncStaged(DataSync dataSync) throws IOException {
        List<Integer> taken = new ArrayList<>();
        List<ByteBuffer> copies = new ArrayList<>();
        long seq;
        synchronized (this) {
            seq = ++copied;
            for (int w = 0; w < dirty.length(); w++) {
                long bits = dirty.get(w) == 0 ? 0 : dirty.getAndSet(w, 0);
                while (bits != 0) {
                    int p = w * 64 + Long.numberOfTrailingZeros(bits);
                    bits &= bits - 1;
                    taken.add(p);
                    copies.add(encode(p));
                }
            }
        }
        try {
            dataSync.run();
        } catch (IOException | RuntimeException e) {
            for (int p : taken) {
                markDirty(p, p);
            }
            throw e;
        }
        return taken.isEmpty() ? null : () -> writePages(seq, taken, copies);
    }

    /**
     * Writes the copies of sync {@code seq}'s pages, except those a later sync's copy has replaced on disk already,
     * then syncs the file. The writes of several syncs may come in any order: a page never goes back to an older copy,
     * and the force after the check covers the newer copy's write too.
     */
    private void writePages(long seq, List<Integer> taken, List<ByteBuffer> copies) throws IOException {
        synchronized (written) {
            try {
                for (int i = 0; i < taken.size(); i++) {
                    int p = taken.get(i);
                    if (written[p] > seq) {
                        continue;
                    }
                    ByteBuffer b = copies.get(i);
                    long at = offset + (long) p * PAGE;
                    while (b.hasRemaining()) {
                        channel.write(b, at + b.position());
                    }
                    written[p] = seq;
                }
                channel.force(false);
            } catch (IOException | RuntimeException e) {
                for (int p : taken) {
                    markDirty(p, p);
                }
                throw e;
            }
        }
    }

    /** Page {@code p} as the file holds it, from the live map. */
    private ByteBuffer encode(int p) {
        ByteBuffer b = ByteBuffer.allocate(PAGE).order(ByteOrder.LITTLE_ENDIAN);
        long words = (live.blocks() + 63) / 64;
        for (int wi = 0; wi < WORDS_PER_PAGE; wi++) {
            long w = (long) p * WORDS_PER_PAGE + wi;
            if (w >= words) {
                break;
            }
            long d = live.dataWord((int) w);
            long z = live.zeroWord((int) w) & ~d;   // both on: a set half done, reads as DATA
            if ((d | z) != 0) {
                b.putLong(wi * 16, spread(d) | spread(z) << 1);
                b.putLong(wi * 16 + 8, spread(d >>> 32) | spread(z >>> 32) << 1);
            }
        }
        return b;
    }

    /** The even bits of a 2-bit-per-block long. */
    private static final long EVEN = 0x5555555555555555L;

    /** Bit i of the low 32 bits of {@code x} to bit 2i. */
    static long spread(long x) {
        x &= 0xFFFFFFFFL;
        x = (x | x << 16) & 0x0000FFFF0000FFFFL;
        x = (x | x << 8) & 0x00FF00FF00FF00FFL;
        x = (x | x << 4) & 0x0F0F0F0F0F0F0F0FL;
        x = (x | x << 2) & 0x3333333333333333L;
        x = (x | x << 1) & EVEN;
        return x;
    }

    /** Bit 2i of {@code x} (its odd bits clear) to bit i: the inverse of {@link #spread}. */
    static long compact(long x) {
        x &= EVEN;
        x = (x | x >>> 1) & 0x3333333333333333L;
        x = (x | x >>> 2) & 0x0F0F0F0F0F0F0F0FL;
        x = (x | x >>> 4) & 0x00FF00FF00FF00FFL;
        x = (x | x >>> 8) & 0x0000FFFF0000FFFFL;
        x = (x | x >>> 16) & 0x00000000FFFFFFFFL;
        return x;
    }

    private void markDirty(long firstPage, long lastPage) {
        for (long p = firstPage; p <= lastPage; p++) {
            int w = (int) (p >>> 6);
            long bit = 1L << p;
            long v;
            do {
                v = dirty.get(w);
            } while ((v & bit) == 0 && !dirty.compareAndSet(w, v, v | bit));
        }
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
