package dev.rbd.cli;

import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Phaser;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.LongConsumer;

/**
 * The copy loop of {@code rbd-cli copy}. Up to {@code depth} chunks are read ahead or being written at once (so
 * memory stays under depth x chunk); chunks are looked at in order, so zero runs that span chunks merge into one
 * zeroing request. A block that is all zeroes is never written as data, and a range the source reports as reading
 * zeroes (an export's BLOCK_STATUS) is not even read: it joins the zero runs as it is.
 *
 * <p>Chunks land in direct buffers, one per slot, reused: the client reads into them off the network and writes
 * from them to the socket, and a file channel reads and writes them without a copy of its own.
 */
final class Copier {
    /**
     * What a copy did: bytes covered, bytes written as data, bytes left to zeroing (not sent as data), and of those
     * the bytes never read because the source reported them as zeroes.
     */
    record Totals(long bytes, long dataBytes, long zeroBytes, long unreadBytes) {
    }

    private final CopyEndpoint source;
    private final CopyEndpoint target;
    private final int chunk;
    private final int depth;
    private final int block;
    private final ByteBuffer zeroBlock;
    private final Semaphore slots;
    /** Buffers of finished chunks; with the slots, never more than {@code depth} are made. */
    private final ConcurrentLinkedQueue<ByteBuffer> free = new ConcurrentLinkedQueue<>();
    private final Phaser writes = new Phaser(1);
    private final AtomicReference<Throwable> failure = new AtomicReference<>();
    private long zeroStart;
    private long zeroEnd;
    private long dataBytes;
    private long zeroBytes;
    private long unreadBytes;

    Copier(CopyEndpoint source, CopyEndpoint target, int chunk, int depth) {
        this.source = source;
        this.target = target;
        this.chunk = chunk;
        this.depth = depth;
        this.block = Math.max(1, Math.min(target.blockSize(), chunk));
        this.zeroBlock = ByteBuffer.allocateDirect(block);
        this.slots = new Semaphore(depth);
    }

    /** Copies the first {@code length} bytes of the source and flushes the target; tells bytes done so far. */
    Totals copy(long length, LongConsumer progress) throws InterruptedException {
        ArrayDeque<Chunk> reads = new ArrayDeque<>();
        long issued = 0;
        long done = 0;
        while (done < length && failure.get() == null) {
            while (issued < length && failure.get() == null) {
                ExtentWalk.Range extent = source.extentAt(issued);
                long end = Math.min(extent.end(), length);
                if (extent.zero()) {
                    // reads as zeroes: nothing to read, no memory held, so no slot either
                    reads.add(new Chunk(issued, end - issued, null));
                    unreadBytes += end - issued;
                    issued = end;
                    continue;
                }
                if (reads.isEmpty()) {
                    slots.acquire();  // every slot is held by a chunk being written: wait for one to finish
                } else if (!slots.tryAcquire()) {
                    break;
                }
                int n = (int) Math.min(chunk, end - issued);
                reads.add(new Chunk(issued, n, source.read(issued, buffer().limit(n))));
                issued += n;
            }
            if (reads.isEmpty()) {
                break;
            }
            Chunk c = reads.poll();
            if (c.data() == null) {
                addZeroes(c.offset(), c.offset() + c.length());
            } else {
                write(c.offset(), c.data().join());
            }
            done += c.length();
            progress.accept(done);
        }
        flushZeroRun();
        writes.arriveAndAwaitAdvance();
        rethrowFailure();
        target.flush().join();
        return new Totals(length, dataBytes, zeroBytes, unreadBytes);
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
                reads.add(new Pair(source.read(issued, ByteBuffer.allocate(n)),
                        target.read(issued, ByteBuffer.allocate(n))));
                issued += n;
            }
            Pair p = reads.poll();
            ByteBuffer a = p.source().join();
            int at = a.mismatch(p.target().join());
            if (at >= 0) {
                return done + at;
            }
            done += a.remaining();
            progress.accept(done);
        }
        return -1;
    }

    private record Pair(CompletableFuture<ByteBuffer> source, CompletableFuture<ByteBuffer> target) {
    }

    /** A range of the source in copy order: being read, or ({@code data} null) known to read as zeroes. */
    private record Chunk(long offset, long length, CompletableFuture<ByteBuffer> data) {
    }

    /** A chunk's buffer, position 0 and limit {@code chunk}: one of a finished chunk, else a new one. */
    private ByteBuffer buffer() {
        ByteBuffer b = free.poll();
        return b != null ? b.clear() : ByteBuffer.allocateDirect(chunk);
    }

    /**
     * Splits one chunk (position 0 to limit) into runs of data blocks (written) and zero blocks (added to the
     * pending zero run); its buffer and slot are free once the writes are over.
     */
    private void write(long offset, ByteBuffer data) {
        List<CompletableFuture<Void>> parts = new ArrayList<>();
        int length = data.limit();
        int runStart = 0;
        boolean runZero = isZero(data, 0);
        for (int at = block; at < length; at += block) {
            boolean zero = isZero(data, at);
            if (zero != runZero) {
                run(offset, data, runStart, at, runZero, parts);
                runStart = at;
                runZero = zero;
            }
        }
        run(offset, data, runStart, length, runZero, parts);
        CompletableFuture.allOf(parts.toArray(new CompletableFuture<?>[0])).whenComplete((v, e) -> {
            free.add(data);
            slots.release();
        });
    }

    private void run(long offset, ByteBuffer data, int from, int to, boolean zero,
                     List<CompletableFuture<Void>> parts) {
        if (zero) {
            addZeroes(offset + from, offset + to);
        } else {
            flushZeroRun();
            parts.add(track(target.write(offset + from, data.slice(from, to - from))));
            dataBytes += to - from;
        }
    }

    /** Adds {@code [start, end)} to the pending zero run, sending the run before it when they do not touch. */
    private void addZeroes(long start, long end) {
        if (zeroEnd == zeroStart || zeroEnd != start) {
            flushZeroRun();
            zeroStart = start;
        }
        zeroEnd = end;
        zeroBytes += end - start;
    }

    private boolean isZero(ByteBuffer data, int from) {
        int n = Math.min(block, data.limit() - from);
        return data.slice(from, n).mismatch(zeroBlock.slice(0, n)) < 0;
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
