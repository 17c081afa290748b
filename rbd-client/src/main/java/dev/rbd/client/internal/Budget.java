package dev.rbd.client.internal;

import dev.rbd.client.RbdException;
import java.time.Duration;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

/**
 * The client's memory bound: requests in flight, and bytes of write payload held until acknowledged (and, where
 * acks are not durable, until a FLUSH covers them). A caller that finds no room blocks, for at most the block
 * timeout, instead of growing memory.
 */
public final class Budget {
    private final int maxRequests;
    private final int maxBytes;
    private final Semaphore requests;
    private final Semaphore bytes;
    private final Duration timeout;

    public Budget(int maxRequests, int maxBytes, Duration timeout) {
        this.maxRequests = maxRequests;
        this.maxBytes = maxBytes;
        this.requests = new Semaphore(maxRequests, true);
        this.bytes = new Semaphore(maxBytes, true);
        this.timeout = timeout;
    }

    /** The bytes a write of {@code n} payload bytes takes from the budget (a larger one takes all of it). */
    public int weight(int n) {
        return Math.min(n, maxBytes);
    }

    /** Blocks until one request and {@code weight} bytes fit, or throws once the block timeout has passed. */
    public void acquire(int weight) {
        long deadline = System.nanoTime() + timeout.toNanos();
        try {
            if (!requests.tryAcquire(timeout.toNanos(), TimeUnit.NANOSECONDS)) {
                throw new RbdException("no room for another request: " + maxRequests + " in flight for "
                        + timeout.toMillis() + " ms");
            }
            if (weight > 0 && !bytes.tryAcquire(weight, Math.max(0, deadline - System.nanoTime()),
                    TimeUnit.NANOSECONDS)) {
                requests.release();
                throw new RbdException("retained-write budget of " + maxBytes + " bytes stayed full for "
                        + timeout.toMillis() + " ms");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new RbdException("interrupted while waiting for room under the retained-write budget");
        }
    }

    /** The request was answered. */
    public void releaseRequest() {
        requests.release();
    }

    /** Its payload was let go. */
    public void releaseBytes(int weight) {
        if (weight > 0) {
            bytes.release(weight);
        }
    }

    /** Requests currently counted against the budget. */
    public int requestsHeld() {
        return maxRequests - requests.availablePermits();
    }

    /** Write payload bytes currently held. */
    public int bytesHeld() {
        return maxBytes - bytes.availablePermits();
    }
}
