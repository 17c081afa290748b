package dev.rbd.server.store;

import java.util.Arrays;

/**
 * The extents a store reports for a range, in order from its start: each a length and state flags (for
 * {@code base:allocation}, HOLE and ZERO). Adjacent extents with the same flags are merged; extents are clipped at the
 * end of the range, and no more than {@code max} are kept, so a store simply adds until {@link #full()}.
 */
public final class Extents {
    private final long end;
    private final int max;
    private long position;
    private long[] lengths = new long[4];
    private int[] flags = new int[4];
    private int count;

    /**
     * @param offset where the range starts
     * @param length its length (positive; offset + length may not overflow)
     * @param max    the most extents wanted (at least 1)
     */
    public Extents(long offset, long length, int max) {
        if (length <= 0 || max < 1) {
            throw new IllegalArgumentException("length: " + length + ", max: " + max + " (expected: > 0, >= 1)");
        }
        this.position = offset;
        this.end = offset + length;
        this.max = max;
    }

    /** Where the next extent starts. */
    public long position() {
        return position;
    }

    /** How much of the range is not described yet. */
    public long remaining() {
        return end - position;
    }

    /**
     * Adds the next extent; the part past the range's end is dropped, and an extent that would be one too many is
     * dropped whole (the range is then covered only in part, which the spec allows). Returns {@link #full()}.
     */
    public boolean add(long length, int state) {
        if (length <= 0 || full()) {
            return full();
        }
        long n = Math.min(length, end - position);
        if (count > 0 && flags[count - 1] == state) {
            lengths[count - 1] += n;
        } else if (count == max) {
            position = end; // one too many: what is described so far is the answer
            return true;
        } else {
            if (count == lengths.length) {
                lengths = Arrays.copyOf(lengths, count * 2);
                flags = Arrays.copyOf(flags, count * 2);
            }
            lengths[count] = n;
            flags[count] = state;
            count++;
        }
        position += n;
        return full();
    }

    /** True once the range is covered or no more extents fit. */
    public boolean full() {
        return position >= end;
    }

    public int count() {
        return count;
    }

    public long length(int i) {
        return lengths[i];
    }

    public int flags(int i) {
        return flags[i];
    }

    /** The length the extents cover. */
    public long covered() {
        long sum = 0;
        for (int i = 0; i < count; i++) {
            sum += lengths[i];
        }
        return sum;
    }
}
