package dev.rbd.client.internal;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;

/**
 * Acknowledged writes no FLUSH covers yet (kept only where the server's acks are not durable), in
 * acknowledgement order, and whether the session owes a FLUSH of its own to let them go. Thread-safe; its lock is
 * never held while calling out.
 */
final class Unflushed {
    /** What one kept write costs beyond its payload, so that many tiny writes still trigger a FLUSH. */
    private static final int OVERHEAD = 64;

    private final long autoFlushBytes;
    private final ArrayDeque<Request> writes = new ArrayDeque<>();
    private long bytes;
    private long acks;
    private boolean autoFlushing;
    private boolean closed;

    Unflushed(long autoFlushBytes) {
        this.autoFlushBytes = autoFlushBytes;
    }

    /** What became of an acknowledged write. */
    enum Kept {
        /** Not kept (closed, or already retired): let it go. */
        NO,
        YES,
        /** Kept, and the kept bytes call for an own FLUSH, none being under way. */
        YES_FLUSH_DUE
    }

    synchronized Kept keep(Request w) {
        if (closed || w.isRetired()) {
            return Kept.NO;
        }
        w.ackSeq = ++acks;
        writes.add(w);
        bytes += w.payload.readableBytes() + OVERHEAD;
        if (bytes >= autoFlushBytes && !autoFlushing) {
            autoFlushing = true;
            return Kept.YES_FLUSH_DUE;
        }
        return Kept.YES;
    }

    /** The acknowledgements so far: a FLUSH sent now covers these (NBD's FLUSH covers answered writes). */
    synchronized long acks() {
        return acks;
    }

    /** Takes out the writes a FLUSH covering {@code covers} acknowledgements made durable. */
    synchronized List<Request> coveredBy(long covers) {
        List<Request> out = new ArrayList<>();
        while (!writes.isEmpty() && writes.peekFirst().ackSeq <= covers) {
            Request w = writes.pollFirst();
            bytes -= w.payload.readableBytes() + OVERHEAD;
            out.add(w);
        }
        return out;
    }

    /** After an own FLUSH ended: whether another is due, since enough acknowledged writes are kept again. */
    synchronized boolean flushEnded(boolean stopped) {
        autoFlushing = bytes >= autoFlushBytes && !stopped;
        return autoFlushing;
    }

    /** An own FLUSH failed: the next acknowledgement over the limit may try again. */
    synchronized void flushFailed() {
        autoFlushing = false;
    }

    synchronized boolean isEmpty() {
        return writes.isEmpty();
    }

    synchronized long bytes() {
        return bytes;
    }

    /** The kept writes, oldest acknowledgement first, still kept (to be written again). */
    synchronized List<Request> snapshot() {
        return new ArrayList<>(writes);
    }

    /** Takes out every kept write; with {@code close}, nothing is kept any more afterwards. */
    synchronized List<Request> drain(boolean close) {
        closed |= close;
        List<Request> out = new ArrayList<>(writes);
        writes.clear();
        bytes = 0;
        return out;
    }
}
