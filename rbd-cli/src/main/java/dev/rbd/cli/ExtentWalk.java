package dev.rbd.cli;

import dev.rbd.client.RbdClient;
import dev.rbd.protocol.MetaContext;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * Walks an export's {@code base:allocation} extents with BLOCK_STATUS requests of at most {@link #SPAN} bytes. A
 * server may answer for fewer bytes than asked: the walk goes on from where its extents end; a reply that covers no
 * byte is an error, not a reason to ask the same question forever. Without block status from the server the whole
 * export is one data extent (the spec: a client "MUST assume" data where it has no status).
 */
final class ExtentWalk {
    /**
     * How much one BLOCK_STATUS asks about: large enough that a sparse export of terabytes takes few round trips,
     * within the request's 32-bit length and a multiple of every block size.
     */
    static final int SPAN = 1 << 30;

    /** One extent: a range and its {@code base:allocation} flags ({@link MetaContext#STATE_HOLE}, STATE_ZERO). */
    record Range(long offset, long length, int flags) {
        long end() {
            return offset + length;
        }

        boolean zero() {
            return (flags & MetaContext.STATE_ZERO) != 0;
        }
    }

    private final RbdClient client;
    private final long size;
    private final boolean blockStatus;
    private final int span;

    ExtentWalk(RbdClient client) {
        this.client = client;
        this.size = client.info().size();
        this.blockStatus = client.info().blockStatus();
        int min = Math.max(1, client.info().minimumBlock());
        this.span = SPAN / min * min;
    }

    /** Whether the server gave block status; without it every range is data. */
    boolean blockStatus() {
        return blockStatus;
    }

    /**
     * The extents from {@code offset} (below the export's size) that one BLOCK_STATUS reply tells, in order, the
     * last one cut at the export's end; never empty, and the first starts at {@code offset}.
     */
    List<Range> from(long offset) {
        if (offset < 0 || offset >= size) {
            throw new IllegalArgumentException("offset: " + offset + " (expected: 0 to " + (size - 1) + ")");
        }
        if (!blockStatus) {
            return List.of(new Range(offset, size - offset, 0));
        }
        int length = (int) Math.min(span, size - offset);
        List<MetaContext.Extent> extents = client.blockStatus(offset, length).join();
        List<Range> ranges = new ArrayList<>(extents.size());
        long at = offset;
        for (MetaContext.Extent e : extents) {
            if (at >= size) {
                break;
            }
            long n = Math.min(e.length(), size - at);
            ranges.add(new Range(at, n, e.flags()));
            at += n;
        }
        if (ranges.isEmpty()) {
            throw new IllegalStateException("the server's BLOCK_STATUS reply at offset " + offset
                    + " covers no byte of the export");
        }
        return ranges;
    }

    /** Every extent of the export in order, adjacent extents with the same flags merged into one. */
    void forEach(Consumer<Range> sink) {
        Range pending = null;
        long at = 0;
        while (at < size) {
            for (Range r : from(at)) {
                if (pending != null && pending.flags() == r.flags()) {
                    pending = new Range(pending.offset(), pending.length() + r.length(), r.flags());
                } else {
                    if (pending != null) {
                        sink.accept(pending);
                    }
                    pending = r;
                }
            }
            at = pending.end();
        }
        if (pending != null) {
            sink.accept(pending);
        }
    }
}
