package dev.rbd.server.store;

import io.netty.buffer.ByteBuf;
import java.io.Closeable;
import java.io.IOException;

/**
 * The storage behind one export. Offsets and lengths passed in are already checked against {@link #size()} by the
 * dispatcher. Implementations are thread-safe: requests of several connections run concurrently.
 */
public interface BlockStore extends Closeable {
    /** Size in bytes. */
    long size();

    /** Reads {@code length} bytes at {@code offset} into {@code dst} (advancing its writer index). */
    void read(long offset, ByteBuf dst, int length) throws IOException;

    /**
     * Reads like {@link #read} only if that cannot wait for the disk (the data is in memory), so that it may run on
     * an event loop; returns {@code false}, with {@code dst}'s indices unchanged, when it would wait, may fail, or is
     * not supported. The caller then reads with {@link #read} on an I/O thread.
     */
    default boolean readIfCached(long offset, ByteBuf dst, int length) {
        return false;
    }

    /** Writes the readable bytes of {@code src} at {@code offset}; does not change {@code src}'s indices. */
    void write(long offset, ByteBuf src) throws IOException;

    /** Makes every completed write durable (fdatasync). */
    void sync() throws IOException;

    /** The second step of a {@link #syncStaged() sync in two steps}. */
    @FunctionalInterface
    interface SyncStep {
        void run() throws IOException;
    }

    /**
     * A {@link #sync} in two steps, so that group commit can run one batch's second step while the next batch's first
     * runs: runs the first step (every completed write's data made durable) and returns the second (what describes
     * that data made durable too: a persistent overlay's block map), or {@code null} when this store's sync is one
     * step. A write is durable once both steps of a sync begun after it have run. Second steps may run on another
     * thread, concurrently with later first steps, and in any order among themselves.
     */
    default SyncStep syncStaged() throws IOException {
        sync();
        return null;
    }

    /** Advisory discard: may deallocate the range; its contents are undefined until rewritten. */
    void trim(long offset, long length) throws IOException;

    /**
     * Makes the range read as zeroes.
     *
     * @param mayPunch the range may be deallocated (no {@code NO_HOLE})
     * @param fastOnly only if it is cheaper than writing zeroes ({@code FAST_ZERO}); otherwise throw
     *                 {@link FastZeroUnsupportedException} without changing anything
     */
    void writeZeroes(long offset, long length, boolean mayPunch, boolean fastOnly) throws IOException;

    /** {@code base:allocation}: the extent is not allocated (a hole). */
    int STATE_HOLE = 1;
    /** {@code base:allocation}: the extent reads as zeroes. */
    int STATE_ZERO = 2;

    /**
     * Describes the allocation of the range from {@code out.position()} ({@code base:allocation}): adds extents
     * with {@link #STATE_HOLE}, {@link #STATE_ZERO} or 0 (data) to {@code out} until it is {@link Extents#full()}.
     * Flags of 0 are always true, so this default says "all data". May block: it runs on an I/O thread.
     */
    default void allocation(Extents out) throws IOException {
        out.add(out.remaining(), 0);
    }

    /** Prefetch hint. */
    void cache(long offset, long length) throws IOException;

    /** Whether {@link #trim} can deallocate (advertised as SEND_TRIM). */
    boolean canTrim();

    /** Whether zeroing can be faster than writing zeroes (advertised as SEND_FAST_ZERO). */
    boolean canFastZero();

    /** One line for logs and the export description, e.g. the backing path. */
    String describe();
}
