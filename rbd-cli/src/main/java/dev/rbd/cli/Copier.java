package dev.rbd.cli;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Phaser;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.LongConsumer;

/**
 * The copy loop of {@code rbd-cli copy}. Up to {@code depth} chunks are read ahead or being written at once (so
 * memory stays under depth x chunk); chunks are looked at in order, so zero runs that span chunks merge into one
 * zeroing request. A block that is all zeroes is never written as data.
 */
final class Copier {
    /** What a copy did: bytes covered, bytes written as data, bytes left to zeroing (not sent as data). */
    record Totals(long bytes, long dataBytes, long zeroBytes) {
    }

    private final CopyEndpoint source;
    private final CopyEndpoint target;
    private final int chunk;
    private final int depth;
    private final int block;
    private final byte[] zeroBlock;
    private final Semaphore slots;
    private final Phaser writes = new Phaser(1);
    private final AtomicReference<Throwable> failure = new AtomicReference<>();
    private long zeroStart;
    private long zeroEnd;
    private long dataBytes;
    private long zeroBytes;

    Copier(CopyEndpoint source, CopyEndpoint target, int chunk, int depth) {
        this.source = source;
        this.target = target;
        this.chunk = chunk;
        this.depth = depth;
        this.block = Math.max(1, Math.min(target.blockSize(), chunk));
        this.zeroBlock = new byte[block];
        this.slots = new Semaphore(depth);
    }

    /** Copies the first {@code length} bytes of the source and flushes the target; tells bytes done so far. */
    Totals copy(long length, LongConsumer progress) throws InterruptedException {
        ArrayDeque<Chunk> reads = new ArrayDeque<>();
        long issued = 0;
        long done = 0;
        while (done < length && failure.get() == null) {
            while (issued < length && failure.get() == null) {
                if (reads.isEmpty()) {
                    slots.acquire();  // every slot is held by a chunk being written: wait for one to finish
                } else if (!slots.tryAcquire()) {
                    break;
                }
                int n = (int) Math.min(chunk, length - issued);
                reads.add(new Chunk(issued, source.read(issued, n)));
                issued += n;
            }
            if (reads.isEmpty()) {
                break;
            }
            Chunk c = reads.poll();
            byte[] data = c.data().join();
            write(c.offset(), data);
            done += data.length;
            progress.accept(done);
        }
        flushZeroRun();
        writes.arriveAndAwaitAdvance();
        rethrowFailure();
        target.flush().join();
        return new Totals(length, dataBytes, zeroBytes);
    }

    /**
     * Reads the first {@code length} bytes of both sides, {@code depth} chunks ahead, and returns the offset of the
     * first byte that differs, or -1.
     */
    long firstDifference(long length, LongConsumer progress) {
        ArrayDeque<Pair> reads = new ArrayDeque<>();
        long issued = 0;
        long done = 0;
        while (done < length) {
            while (issued < length && reads.size() < depth) {
                int n = (int) Math.min(chunk, length - issued);
                reads.add(new Pair(source.read(issued, n), target.read(issued, n)));
                issued += n;
            }
            Pair p = reads.poll();
            byte[] a = p.source().join();
            int at = Arrays.mismatch(a, p.target().join());
            if (at >= 0) {
                return done + at;
            }
            done += a.length;
            progress.accept(done);
        }
        return -1;
    }

    private record Pair(CompletableFuture<byte[]> source, CompletableFuture<byte[]> target) {
    }

    private record Chunk(long offset, CompletableFuture<byte[]> data) {
    }

    /** Splits one chunk into runs of data blocks (written) and zero blocks (added to the pending zero run). */
    private void write(long offset, byte[] data) {
        List<CompletableFuture<Void>> parts = new ArrayList<>();
        int runStart = 0;
        boolean runZero = isZero(data, 0);
        for (int at = block; at < data.length; at += block) {
            boolean zero = isZero(data, at);
            if (zero != runZero) {
                run(offset, data, runStart, at, runZero, parts);
                runStart = at;
                runZero = zero;
            }
        }
        run(offset, data, runStart, data.length, runZero, parts);
        CompletableFuture.allOf(parts.toArray(new CompletableFuture<?>[0])).whenComplete((v, e) -> slots.release());
    }

    private void run(long offset, byte[] data, int from, int to, boolean zero, List<CompletableFuture<Void>> parts) {
        if (zero) {
            if (zeroEnd == zeroStart || zeroEnd != offset + from) {
                flushZeroRun();
                zeroStart = offset + from;
            }
            zeroEnd = offset + to;
            zeroBytes += to - from;
        } else {
            flushZeroRun();
            parts.add(track(target.write(offset + from, data, from, to - from)));
            dataBytes += to - from;
        }
    }

    private boolean isZero(byte[] data, int from) {
        int n = Math.min(block, data.length - from);
        return Arrays.mismatch(data, from, from + n, zeroBlock, 0, n) < 0;
    }

    private void flushZeroRun() {
        if (zeroEnd > zeroStart) {
            track(target.zero(zeroStart, zeroEnd - zeroStart));
        }
        zeroStart = zeroEnd = 0;
    }

    private CompletableFuture<Void> track(CompletableFuture<Void> f) {
        writes.register();
        return f.whenComplete((v, e) -> {
            if (e != null) {
                failure.compareAndSet(null, e);
            }
            writes.arriveAndDeregister();
        });
    }

    private void rethrowFailure() {
        Throwable t = failure.get();
        if (t instanceof RuntimeException r) {
            throw r;
        }
        if (t instanceof Error err) {
            throw err;
        }
        if (t != null) {
            throw new CompletionException(t);
        }
    }
}
