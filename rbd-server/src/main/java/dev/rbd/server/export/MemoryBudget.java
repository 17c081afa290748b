package dev.rbd.server.export;

import io.netty.util.internal.PlatformDependent;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The server-wide ceiling on the request and reply bytes all connections hold together (write payloads received
 * and not yet stored, read data allocated and not yet written to the socket). Each connection may always hold one
 * request's worth of its own (see the transmission phase's back-pressure); beyond that it needs room here, so clients
 * that stop reading their replies or pile up requests cannot together take more than this. Thread-safe.
 */
public final class MemoryBudget {
    private final long max;
    private final AtomicLong used = new AtomicLong();
    private final AtomicLong peak = new AtomicLong();

    public MemoryBudget(long max) {
        if (max <= 0) {
            throw new IllegalArgumentException("max: " + max + " (expected: > 0)");
        }
        this.max = max;
    }

    /**
     * Half of the direct memory the JVM allows ({@code -XX:MaxDirectMemorySize}, else the heap's maximum): the rest
     * is left for the one request every connection may always hold, socket buffers and the allocator's pools.
     */
    public static long defaultMax() {
        return Math.max(64L << 20, PlatformDependent.maxDirectMemory() / 2);
    }

    public long max() {
        return max;
    }

    public long used() {
        return used.get();
    }

    /** The most bytes held at once since the start or the last {@link #resetPeak}. */
    public long peak() {
        return peak.get();
    }

    /** Starts a new {@link #peak} from what is held now. */
    public void resetPeak() {
        peak.set(used.get());
    }

    /** Whether {@code bytes} more fit under the ceiling now. */
    public boolean hasRoomFor(long bytes) {
        return used.get() + bytes <= max;
    }

    /** Whether the connections together hold more than the ceiling. */
    public boolean exceeded() {
        return used.get() > max;
    }

    public void take(long bytes) {
        long now = used.addAndGet(bytes);
        if (now > peak.get()) { // a plain read on most calls: the peak rarely moves
            peak.accumulateAndGet(now, Math::max);
        }
    }

    public void give(long bytes) {
        used.addAndGet(-bytes);
    }
}
