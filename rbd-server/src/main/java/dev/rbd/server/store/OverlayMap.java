package dev.rbd.server.store;

/**
 * Where each 4 KiB block of an {@link OverlayBlockStore} reads from. Block {@code i} covers bytes
 * {@code [i * BLOCK, (i + 1) * BLOCK)} of the export; the last block may be shorter. Implementations are
 * thread-safe: {@link #set} of one range never disturbs the states of blocks outside it, and {@link #get} sees
 * each block either before or after a concurrent {@code set}. The in-memory map lives as long as the store; a
 * durable one can take its place behind this interface.
 */
public interface OverlayMap {
    /** Bytes per block. */
    int BLOCK = 4096;

    /** Where a block's bytes are. */
    enum State {
        /** Never written here: read from the golden image. */
        GOLDEN,
        /** Written: read from the overlay file. */
        DATA,
        /** Trimmed or zeroed whole: reads as zeroes. */
        ZERO
    }

    /** Receives runs of blocks that share a state, in ascending order. */
    @FunctionalInterface
    interface RunVisitor {
        void run(long firstBlock, long count, State state);
    }

    /** Number of blocks. */
    long blocks();

    State get(long block);

    /** Sets blocks {@code [first, first + count)} to {@code state}. */
    void set(long first, long count, State state);

    /** Visits blocks {@code [first, first + count)} as maximal runs of one state. */
    void runs(long first, long count, RunVisitor visitor);
}
