package dev.rbd.server.store;

import io.netty.buffer.ByteBuf;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/** A sparse in-memory store: pages are allocated on first write, so even a 2^63-byte export costs nothing. */
public class MemoryBlockStore implements BlockStore {
    private static final int PAGE = 4096;

    private final long size;
    private final ConcurrentHashMap<Long, byte[]> pages = new ConcurrentHashMap<>();
    private final AtomicLong syncs = new AtomicLong();

    public MemoryBlockStore(long size) {
        if (size < 0) {
            throw new IllegalArgumentException("size: " + size + " (expected: >= 0)");
        }
        this.size = size;
    }

    @Override
    public long size() {
        return size;
    }

    @Override
    public void read(long offset, ByteBuf dst, int length) {
        long pos = offset;
        long end = offset + length;
        while (pos < end) {
            long page = pos / PAGE;
            int in = (int) (pos % PAGE);
            int n = (int) Math.min(PAGE - in, end - pos);
            byte[] p = pages.get(page);
            if (p == null) {
                dst.writeZero(n);
            } else {
                synchronized (p) {
                    dst.writeBytes(p, in, n);
                }
            }
            pos += n;
        }
    }

    @Override
    public void write(long offset, ByteBuf src) {
        int idx = src.readerIndex();
        int left = src.readableBytes();
        long pos = offset;
        while (left > 0) {
            long page = pos / PAGE;
            int in = (int) (pos % PAGE);
            int n = Math.min(PAGE - in, left);
            byte[] p = pages.computeIfAbsent(page, k -> new byte[PAGE]);
            synchronized (p) {
                src.getBytes(idx, p, in, n);
            }
            idx += n;
            left -= n;
            pos += n;
        }
    }

    @Override
    public void sync() {
        syncs.incrementAndGet();
    }

    /** How many times {@link #sync()} ran. */
    public long syncCount() {
        return syncs.get();
    }

    @Override
    public void trim(long offset, long length) {
        writeZeroes(offset, length, true, false);
    }

    @Override
    public void writeZeroes(long offset, long length, boolean mayPunch, boolean fastOnly) {
        long pos = offset;
        long end = offset + length;
        while (pos < end) {
            long page = pos / PAGE;
            int in = (int) (pos % PAGE);
            int n = (int) Math.min(PAGE - in, end - pos);
            if (n == PAGE) {
                pages.remove(page);
            } else {
                byte[] p = pages.get(page);
                if (p != null) {
                    synchronized (p) {
                        java.util.Arrays.fill(p, in, in + n, (byte) 0);
                    }
                }
            }
            pos += n;
        }
    }

    /** Pages never written (or zeroed whole) are holes that read as zeroes; written pages are data. */
    @Override
    public void allocation(Extents out) {
        while (!out.full()) {
            long pos = out.position();
            int in = (int) (pos % PAGE);
            out.add(PAGE - in, pages.containsKey(pos / PAGE) ? 0 : STATE_HOLE | STATE_ZERO);
        }
    }

    @Override
    public void cache(long offset, long length) {
    }

    @Override
    public boolean canTrim() {
        return true;
    }

    @Override
    public boolean canFastZero() {
        return true;
    }

    /** Pages currently allocated, for tests of sparseness. */
    public int allocatedPages() {
        return pages.size();
    }

    @Override
    public String describe() {
        return "memory";
    }

    @Override
    public void close() {
        pages.clear();
    }
}
