package dev.rbd.cli;

import dev.rbd.client.RbdClient;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.HdrHistogram.Histogram;

/**
 * A closed-loop load: {@code queueDepth} slots, each with one request in flight, issuing its next request from the
 * completion of the last one (no thread per request). Slot {@code i} uses connection {@code i % connections}.
 * Requests completing inside the measured window are counted and their latency recorded, per slot, then merged.
 */
final class ClosedLoop {
    /** How long requests may stay unanswered after the run before it counts as hung. */
    static final long GRACE_SECONDS = 60;

    private final RbdClient[] clients;
    private final BenchPlan plan;
    private final WrittenBlocks written;
    private final AtomicLong cursor = new AtomicLong();
    private final AtomicReference<RuntimeException> failure = new AtomicReference<>();
    private volatile long rampEnd;
    private volatile long end;

    /** {@code written} is null unless the run is verified. */
    ClosedLoop(RbdClient[] clients, BenchPlan plan, WrittenBlocks written) {
        this.clients = clients;
        this.plan = plan;
        this.written = written;
    }

    /** Counts and latencies of the measured window. */
    record Totals(long reads, long writes, Histogram latencyMicros) {
    }

    Totals run() throws InterruptedException {
        long start = System.nanoTime();
        rampEnd = start + plan.ramp().toNanos();
        end = rampEnd + plan.duration().toNanos();
        List<Slot> slots = new ArrayList<>();
        Random seeds = new Random();
        for (int i = 0; i < plan.queueDepth(); i++) {
            byte[] data = new byte[plan.blockSize()];
            seeds.nextBytes(data);
            slots.add(new Slot(clients[i % clients.length], i % clients.length, data));
        }
        slots.forEach(Slot::next);
        try {
            CompletableFuture.allOf(slots.stream().map(s -> s.done).toArray(CompletableFuture<?>[]::new))
                    .get(end - System.nanoTime() + TimeUnit.SECONDS.toNanos(GRACE_SECONDS), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            throw new IllegalStateException("requests were still unanswered " + GRACE_SECONDS
                    + " s after the run ended");
        } catch (java.util.concurrent.ExecutionException e) {
            throw new IllegalStateException(e.getCause());
        }
        if (failure.get() != null) {
            throw failure.get();
        }
        Histogram latency = new Histogram(3);
        long reads = 0;
        long writes = 0;
        for (Slot s : slots) {
            latency.add(s.latency);
            reads += s.reads;
            writes += s.writes;
        }
        return new Totals(reads, writes, latency);
    }

    /** The next block: random or the shared sequential cursor (wrapping at the end of the export). */
    private long pick() {
        return plan.pattern().random() ? ThreadLocalRandom.current().nextLong(plan.blocks())
                : Math.floorMod(cursor.getAndIncrement(), plan.blocks());
    }

    /** One request in flight at a time; its fields are touched by one completion after another, never at once. */
    private final class Slot {
        final RbdClient client;
        final int connection;
        final byte[] data;
        /**
         * Where reads land, and what writes send unless verified (which stamps {@link #data} before each write):
         * direct buffers go to and from the socket without a copy, and no array is made per request.
         */
        final ByteBuffer readBuffer;
        final ByteBuffer writeBuffer;
        final Histogram latency = new Histogram(3);
        final CompletableFuture<Void> done = new CompletableFuture<>();
        /** Pending calls of {@link #next()}: a completion that runs inside {@link #issue()} loops, never recurses. */
        final AtomicInteger pending = new AtomicInteger();
        long reads;
        long writes;

        Slot(RbdClient client, int connection, byte[] data) {
            this.client = client;
            this.connection = connection;
            this.data = data;
            this.readBuffer = ByteBuffer.allocateDirect(data.length);
            this.writeBuffer = ByteBuffer.allocateDirect(data.length).put(data).flip();
        }

        void next() {
            if (pending.getAndIncrement() != 0) {
                return;
            }
            do {
                issue();
            } while (pending.decrementAndGet() != 0);
        }

        private void issue() {
            if (failure.get() != null || System.nanoTime() - end >= 0) {
                done.complete(null);
                return;
            }
            boolean write = plan.pattern().nextIsWrite(ThreadLocalRandom.current());
            long block = pick();
            while (write && written != null && !written.claim(block)) {
                block = pick();
            }
            long offset = block * plan.blockSize();
            int generation = write && written != null ? written.prepare(block, data) : 0;
            long start = System.nanoTime();
            CompletableFuture<?> f;
            try {
                f = !write ? client.read(offset, readBuffer)
                        : written != null ? client.write(offset, data) : client.write(offset, writeBuffer);
            } catch (RuntimeException e) {
                f = CompletableFuture.failedFuture(e);
            }
            long b = block;
            f.whenComplete((v, e) -> completed(write, b, generation, start, e));
        }

        private void completed(boolean write, long block, int generation, long start, Throwable e) {
            long now = System.nanoTime();
            if (write && written != null) {
                written.finished(block, generation, connection, e == null);
            }
            if (e != null) {
                Throwable cause = e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
                failure.compareAndSet(null, new IllegalStateException((write ? "write" : "read") + " of "
                        + plan.blockSize() + " bytes at offset " + block * plan.blockSize() + " failed: "
                        + cause.getMessage(), cause));
                done.complete(null);
                return;
            }
            if (now - rampEnd >= 0 && now - end < 0) {
                latency.recordValue(Math.max(0, (now - start + 500) / 1000));
                if (write) {
                    writes++;
                } else {
                    reads++;
                }
            }
            next();
        }
    }
}
