package dev.rbd.client.internal;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;

/**
 * Keeps overlapping requests in submission order: a request may start only once every earlier request it conflicts
 * with (a write and anything overlapping it) has completed. NBD leaves overlapping in-flight requests undefined,
 * and a replay after a reconnect must never reorder two writes to the same bytes, so at most one write is in flight
 * per byte range. Non-overlapping requests, and reads among themselves, run freely. Thread-safe.
 */
public final class OverlapIndex {
    /** An admitted request; {@link #release()} it when its reply arrived (or it failed). */
    public final class Entry {
        private final long first;
        private final long last; // inclusive, so a range may end at 2^64
        private final boolean empty;
        private final boolean write;
        private final CompletableFuture<Void> done = new CompletableFuture<>();

        private Entry(long first, long last, boolean empty, boolean write) {
            this.first = first;
            this.last = last;
            this.empty = empty;
            this.write = write;
        }

        public void release() {
            synchronized (OverlapIndex.this) {
                active.remove(this);
            }
            done.complete(null);
        }

        boolean conflictsWith(Entry o) {
            return (write || o.write) && !empty && !o.empty && Long.compareUnsigned(o.first, last) <= 0
                    && Long.compareUnsigned(first, o.last) <= 0;
        }
    }

    /** An entry and the future that completes once the request may be sent. */
    public record Admission(Entry entry, CompletableFuture<Void> ready) {
    }

    private final Set<Entry> active = new LinkedHashSet<>();

    /**
     * Registers a request for {@code [offset, offset + length)} (unsigned; a length of 0 conflicts with nothing)
     * after every request registered before it.
     */
    public synchronized Admission admit(long offset, long length, boolean write) {
        long last = offset + (length - 1);
        if (length > 0 && Long.compareUnsigned(last, offset) < 0) {
            last = -1L; // the range would wrap past 2^64: it runs to the end of the unsigned space
        }
        Entry entry = new Entry(offset, last, length == 0, write);
        List<CompletableFuture<Void>> waits = new ArrayList<>();
        for (Entry e : active) {
            if (e.conflictsWith(entry)) {
                waits.add(e.done);
            }
        }
        active.add(entry);
        CompletableFuture<Void> ready = waits.isEmpty() ? CompletableFuture.completedFuture(null)
                : CompletableFuture.allOf(waits.toArray(new CompletableFuture<?>[0]));
        return new Admission(entry, ready);
    }

    /** Completes once every write admitted so far has been released (what a FLUSH must wait for to cover them). */
    public CompletableFuture<Void> writesSoFar() {
        return soFar(true);
    }

    /** Completes once every request admitted so far has been released. */
    public CompletableFuture<Void> allSoFar() {
        return soFar(false);
    }

    private synchronized CompletableFuture<Void> soFar(boolean writesOnly) {
        List<CompletableFuture<Void>> waits = new ArrayList<>();
        for (Entry e : active) {
            if (e.write || !writesOnly) {
                waits.add(e.done);
            }
        }
        return CompletableFuture.allOf(waits.toArray(new CompletableFuture<?>[0]));
    }

    /** Requests admitted and not yet released. */
    public synchronized int size() {
        return active.size();
    }
}
