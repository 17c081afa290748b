package dev.rbd.cli;

import dev.rbd.client.RbdClient;
import java.util.Arrays;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * What {@code bench --verify} wrote: for each block, which generation of its pattern is there and over which
 * connection it went. Content is derived from (run seed, block, generation), so nothing but the numbers is kept.
 * A block is written by one request at a time, so the last acknowledged write is the one the server holds even
 * across connections that do not share a cache.
 */
final class WrittenBlocks {
    /** Outcome of reading every written block back. */
    record Verification(long blocks, long mismatches, long firstBadBlock) {
    }

    private record Written(int generation, int connection) {
    }

    private final long seed;
    private final int blockSize;
    private final Map<Long, Written> written = new ConcurrentHashMap<>();
    private final Set<Long> busy = ConcurrentHashMap.newKeySet();

    WrittenBlocks(long seed, int blockSize) {
        this.seed = seed;
        this.blockSize = blockSize;
    }

    /** Takes {@code block} for one write; false when a write of it is already in flight. */
    boolean claim(long block) {
        return busy.add(block);
    }

    /** Fills {@code data} with the content of {@code block}'s next generation, and returns that generation. */
    int prepare(long block, byte[] data) {
        Written w = written.get(block);
        int generation = w == null ? 1 : w.generation() + 1;
        fill(data, block, generation);
        return generation;
    }

    /** The write of {@code block} was acknowledged (or, with {@code ok} false, failed): the block is free again. */
    void finished(long block, int generation, int connection, boolean ok) {
        if (ok) {
            written.put(block, new Written(generation, connection));
        }
        busy.remove(block);
    }

    long size() {
        return written.size();
    }

    private void fill(byte[] data, long block, int generation) {
        new SplittableRandom(seed ^ (block * 0x9E3779B97F4A7C15L) ^ ((long) generation << 40)).nextBytes(data);
    }

    /**
     * Reads every written block back over the connection that wrote it, {@code queueDepth} at a time, and compares.
     * Throws when a read fails or does not finish within {@code timeoutSeconds}.
     */
    Verification verify(RbdClient[] clients, int queueDepth, long timeoutSeconds) throws InterruptedException {
        Semaphore room = new Semaphore(queueDepth);
        AtomicLong mismatches = new AtomicLong();
        AtomicLong firstBad = new AtomicLong(Long.MAX_VALUE);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(timeoutSeconds);
        for (Map.Entry<Long, Written> e : written.entrySet()) {
            if (failure.get() != null || !room.tryAcquire(deadline - System.nanoTime(), TimeUnit.NANOSECONDS)) {
                break;
            }
            long block = e.getKey();
            Written w = e.getValue();
            clients[w.connection()].read(block * blockSize, blockSize).whenComplete((got, err) -> {
                if (err != null) {
                    failure.compareAndSet(null, err instanceof CompletionException ? err.getCause() : err);
                } else {
                    byte[] expected = new byte[blockSize];
                    fill(expected, block, w.generation());
                    if (!Arrays.equals(expected, got)) {
                        mismatches.incrementAndGet();
                        firstBad.accumulateAndGet(block, Math::min);
                    }
                }
                room.release();
            });
        }
        boolean drained = room.tryAcquire(queueDepth, Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
        if (failure.get() != null) {
            throw new IllegalStateException("verify: reading back failed: " + failure.get().getMessage());
        }
        if (!drained) {
            throw new IllegalStateException("verify: reading back " + written.size() + " blocks took over "
                    + timeoutSeconds + " s");
        }
        return new Verification(written.size(), mismatches.get(), mismatches.get() == 0 ? -1 : firstBad.get());
    }
}
