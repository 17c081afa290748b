package dev.rbd.server.transmission;

import dev.rbd.protocol.NbdCommand;
import dev.rbd.protocol.NbdRequest;
import dev.rbd.protocol.codec.RequestDecoder;
import dev.rbd.server.export.MemoryBudget;

/**
 * Memory accounting for one connection: the bytes its requests hold, from the moment they are read until their reply
 * has been written to the socket (a client that does not read its replies keeps holding them). A request starts only
 * when its bytes fit under the connection's limit and, beyond one request's worth ({@link #RESERVE}, which every
 * connection may always hold, so it always makes progress), under the server-wide {@link MemoryBudget}; otherwise it
 * waits and the connection stops reading. Event loop only.
 */
final class Backpressure {
    /**
     * The largest a single request ever weighs: larger writes and reads are streamed in parts of at most
     * {@link RequestDecoder#FILL_LIMIT}.
     */
    static final long RESERVE = RequestDecoder.FILL_LIMIT + 64;

    private final long max;
    private final MemoryBudget shared;
    private long bytes;

    Backpressure(long max, MemoryBudget shared) {
        this.max = max;
        this.shared = shared;
    }

    /**
     * What a request holds in memory while in flight: its payload, or the buffer its read reply needs (one part of a
     * streamed read), plus a little for the request and its reply header. A streamed write's parts are counted as
     * they arrive ({@link #add}).
     */
    static long weight(NbdRequest req) {
        NbdCommand c = req.command();
        if (c == NbdCommand.READ) {
            return Math.min(req.length(), RequestDecoder.FILL_LIMIT) + 64;
        }
        if (c == NbdCommand.BLOCK_STATUS) {
            return BlockStatusReplies.weight(req);
        }
        return c == NbdCommand.WRITE && !req.payloadStreamed() && !req.payloadDropped() ? req.length() + 64 : 64;
    }

    /** Counts a request of {@code weight} and returns true when it may start now; else counts nothing. */
    boolean tryStart(long weight) {
        if (bytes > 0 && bytes + weight > max) {
            return false;
        }
        if ((bytes > 0 || weight > RESERVE) && !shared.hasRoomFor(weight)) {
            return false;
        }
        add(weight);
        return true;
    }

    /** Counts bytes that are already in memory (a part of a streamed write) whatever the limits. */
    void add(long weight) {
        bytes += weight;
        shared.take(weight);
    }

    void finished(long weight) {
        bytes -= weight;
        shared.give(weight);
    }

    /** Reading should pause: this connection holds more than its limit, or its share is over the server's. */
    boolean overLimit() {
        return bytes > max || (bytes > RESERVE && shared.exceeded());
    }

    /** A paused connection may read again: down to half its limit, and within the server's ceiling. */
    boolean mayResume() {
        return bytes <= max / 2 && (bytes <= RESERVE || !shared.exceeded());
    }

    long bytes() {
        return bytes;
    }
}
