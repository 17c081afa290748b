package dev.rbd.server.store;

import io.netty.buffer.ByteBuf;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/** A store decorator that records, in one global order, each write's completion and each sync's start and end. */
public class RecordingStore implements BlockStore {
    public enum Kind { WRITE_DONE, SYNC_START, SYNC_END, REPLY }

    public record Event(Kind kind, long offset) {
    }

    private final BlockStore delegate;
    private final List<Event> events = new ArrayList<>();
    private final AtomicInteger failSyncs = new AtomicInteger();

    public RecordingStore(BlockStore delegate) {
        this.delegate = delegate;
    }

    public void record(Kind kind, long offset) {
        synchronized (events) {
            events.add(new Event(kind, offset));
        }
    }

    public List<Event> events() {
        synchronized (events) {
            return new ArrayList<>(events);
        }
    }

    /** Makes the next {@code n} syncs fail with an I/O error, as a dying disk would. */
    public void failNextSyncs(int n) {
        failSyncs.set(n);
    }

    @Override
    public long size() {
        return delegate.size();
    }

    @Override
    public void read(long offset, ByteBuf dst, int length) throws IOException {
        delegate.read(offset, dst, length);
    }

    @Override
    public void write(long offset, ByteBuf src) throws IOException {
        delegate.write(offset, src);
        record(Kind.WRITE_DONE, offset);
    }

    @Override
    public void sync() throws IOException {
        record(Kind.SYNC_START, -1);
        if (failSyncs.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
            throw new IOException("Input/output error (injected)");
        }
        delegate.sync();
        record(Kind.SYNC_END, -1);
    }

    @Override
    public void trim(long offset, long length) throws IOException {
        delegate.trim(offset, length);
        record(Kind.WRITE_DONE, offset);
    }

    @Override
    public void writeZeroes(long offset, long length, boolean mayPunch, boolean fastOnly) throws IOException {
        delegate.writeZeroes(offset, length, mayPunch, fastOnly);
        record(Kind.WRITE_DONE, offset);
    }

    @Override
    public void cache(long offset, long length) throws IOException {
        delegate.cache(offset, length);
    }

    @Override
    public boolean canTrim() {
        return delegate.canTrim();
    }

    @Override
    public boolean canFastZero() {
        return delegate.canFastZero();
    }

    @Override
    public String describe() {
        return "recording " + delegate.describe();
    }

    @Override
    public void close() throws IOException {
        delegate.close();
    }
}
