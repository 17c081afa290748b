package dev.rbd.server.store;

/**
 * Where each 4 KiB block of an {@link OverlayBlockStore} reads from. Block {@code i} covers bytes
 * {@code [i * BLOCK, (i + 1) * BLOCK)} of the export; the last block may be shorter. Implementations are
 * thread-safe: {@link #set} of one range never disturbs the states of blocks outside it, and {@link #get} sees
 * each block either before or after a concurrent {@code set}. The in-memory map lives as long as the store; a
 * durable one can take its place behind this interface.
 */
public interface OverlayMap extends java.io.Closeable {
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

    /** Makes the overlay's data durable: fdatasync of its file. */
    @FunctionalInterface
    interface DataSync {
        void run() throws java.io.IOException;
    }

    /**
     * Makes every completed {@link #set} durable along with the data it describes: an in-memory map only runs
     * {@code dataSync}; a durable map runs it, then writes the states set before it started, so a state on disk
     * never says DATA for a block whose bytes are not on disk too.
     */
    default void sync(DataSync dataSync) throws java.io.IOException {
        BlockStore.SyncStep rest = syncStaged(dataSync);
        if (rest != null) {
            rest.run();
        }
    }

    /**
     * {@link #sync} in two steps (see {@link BlockStore#syncStaged()}): runs {@code dataSync} and returns what writes
     * the states set before it started, or {@code null} when there is nothing to write. An in-memory map only runs
     * {@code dataSync}.
     */
    default BlockStore.SyncStep syncStaged(DataSync dataSync) throws java.io.IOException {
        dataSync.run();
        return null;
    }

    /** Releases the map's file, if it has one. */
    @Override
    default void close() throws java.io.IOException {
    }

    /** Visits blocks {@code [first, first + count)} as maximal runs of one state. */
    void runs(long first, long count, RunVisitor visitor);
}
