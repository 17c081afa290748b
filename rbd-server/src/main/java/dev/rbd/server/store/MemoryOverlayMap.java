package dev.rbd.server.store;

import java.util.concurrent.atomic.AtomicLongArray;

/**
 * An {@link OverlayMap} in two bitmaps of one bit per block: {@code data} set means DATA, {@code zero} set means
 * ZERO, neither means GOLDEN. 2 bits per block: a 1 TiB image costs 64 MiB. Words change by compare-and-set, so
 * concurrent sets of neighbouring blocks never lose each other. A set turns its own bit on before it turns the
 * other off, and a block with both bits on reads as DATA: a reader in between sees the old state or the new one,
 * never a GOLDEN that was not there.
 */
public final class MemoryOverlayMap implements OverlayMap {
    private final long blocks;
    private final AtomicLongArray data;
    private final AtomicLongArray zero;

    public MemoryOverlayMap(long blocks) {
        if (blocks < 0 || (blocks + 63) / 64 > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("blocks: " + blocks + " (expected: 0.." + (Integer.MAX_VALUE * 64L)
                    + ")");
        }
        this.blocks = blocks;
        int words = (int) ((blocks + 63) / 64);
        this.data = new AtomicLongArray(words);
        this.zero = new AtomicLongArray(words);
    }

    /** A map for an image of {@code size} bytes (the last block may be partial). */
    public static MemoryOverlayMap forSize(long size) {
        return new MemoryOverlayMap((size + BLOCK - 1) / BLOCK);
    }

    @Override
    public long blocks() {
        return blocks;
    }

    @Override
    public State get(long block) {
        check(block, 1);
        int w = (int) (block >>> 6);
        long bit = 1L << block;
        if ((data.get(w) & bit) != 0) {
            return State.DATA;
        }
        if ((zero.get(w) & bit) != 0) {
            return State.ZERO;
        }
        return State.GOLDEN;
    }

    @Override
    public void set(long first, long count, State state) {
        check(first, count);
        long end = first + count;
        long b = first;
        while (b < end) {
            int w = (int) (b >>> 6);
            int lo = (int) (b & 63);
            int n = (int) Math.min(64 - lo, end - b);
            long mask = n == 64 ? -1L : ((1L << n) - 1) << lo;
            switch (state) {
                case DATA -> {
                    or(data, w, mask);
                    andNot(zero, w, mask);
                }
                case ZERO -> {
                    or(zero, w, mask);
                    andNot(data, w, mask);
                }
                case GOLDEN -> {
                    andNot(data, w, mask);
                    andNot(zero, w, mask);
                }
            }
            b += n;
        }
    }

    @Override
    public void runs(long first, long count, RunVisitor visitor) {
        check(first, count);
        long end = first + count;
        long runStart = first;
        State runState = null;
        long b = first;
        while (b < end) {
            State s;
            long n;
            int w = (int) (b >>> 6);
            if ((b & 63) == 0 && end - b >= 64) {
                long d = data.get(w);
                long z = zero.get(w);
                s = uniform(d, z);
                n = s == null ? 0 : 64;
            } else {
                s = null;
                n = 0;
            }
            if (s == null) {
                s = get(b);
                n = 1;
            }
            if (s != runState) {
                if (runState != null) {
                    visitor.run(runStart, b - runStart, runState);
                }
                runStart = b;
                runState = s;
            }
            b += n;
        }
        if (runState != null) {
            visitor.run(runStart, end - runStart, runState);
        }
    }

    /** The state of all 64 blocks of a word, or null when they differ. */
    private static State uniform(long d, long z) {
        if (d == 0 && z == 0) {
            return State.GOLDEN;
        }
        if (d == -1L && z == 0) {
            return State.DATA;
        }
        if (d == 0 && z == -1L) {
            return State.ZERO;
        }
        return null;
    }

    private void check(long first, long count) {
        if (first < 0 || count < 0 || first + count > blocks) {
            throw new IndexOutOfBoundsException("blocks " + first + "+" + count + " (expected: within " + blocks + ")");
        }
    }

    /** The DATA bits of blocks {@code [64 w, 64 w + 64)}. */
    long dataWord(int w) {
        return data.get(w);
    }

    /** The ZERO bits of blocks {@code [64 w, 64 w + 64)}. */
    long zeroWord(int w) {
        return zero.get(w);
    }

    /** Sets the bits of blocks {@code [64 w, 64 w + 64)} as loaded from a file, before the map is shared. */
    void loadWord(int w, long dataBits, long zeroBits) {
        data.set(w, dataBits);
        zero.set(w, zeroBits & ~dataBits);
    }

    private static void or(AtomicLongArray a, int w, long mask) {
        long v;
        do {
            v = a.get(w);
        } while ((v & mask) != mask && !a.compareAndSet(w, v, v | mask));
    }

    private static void andNot(AtomicLongArray a, int w, long mask) {
        long v;
        do {
            v = a.get(w);
        } while ((v & mask) != 0 && !a.compareAndSet(w, v, v & ~mask));
    }
}
