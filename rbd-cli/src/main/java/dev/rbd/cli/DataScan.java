package dev.rbd.cli;

import dev.rbd.client.RbdClient;
import dev.rbd.protocol.MetaContext;
import java.util.ArrayDeque;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * Finds the first byte of an export that is not zero. Where the server offers BLOCK_STATUS with
 * {@code base:allocation} (nbdkit, qemu-nbd), extents it reports as zero are skipped and only the others are read;
 * elsewhere (rbd-server) the whole export is read. Reads are large and a few are in flight at a time, so memory
 * stays at {@link #CHUNK} x {@link #IN_FLIGHT} whatever the export's size. Every byte that may hold data is read:
 * a sample can miss the one block that holds a file system's superblock.
 */
final class DataScan {
    /** Large enough that a request's cost is its bytes, within every server's usual maximum payload. */
    static final int CHUNK = 4 << 20;
    /** Enough to keep loopback and a LAN busy; 32 MiB of memory at most. */
    static final int IN_FLIGHT = 8;
    /** How much one BLOCK_STATUS asks about; servers may answer for less. */
    static final int STATUS_SPAN = 1 << 30;

    private final RbdClient client;
    private final long size;
    private final int chunk;
    /** Where the next read starts, and where the range known to need reading ends. */
    private long next;
    private long readableEnd;

    private DataScan(RbdClient client, long size) {
        this.client = client;
        this.size = size;
        int min = Math.max(1, client.info().minimumBlock());
        this.chunk = Math.max(min, Math.min(CHUNK, client.info().maxPayload()) / min * min);
        this.readableEnd = client.info().blockStatus() ? 0 : size;
    }

    /** The offset of the first byte of {@code [0, size)} that is not zero, or -1 when all of them are zero. */
    static long firstNonZero(RbdClient client, long size) {
        return new DataScan(client, size).scan();
    }

    private long scan() {
        ArrayDeque<Read> reads = new ArrayDeque<>();
        while (true) {
            while (reads.size() < IN_FLIGHT && nextRange()) {
                int n = (int) Math.min(chunk, readableEnd - next);
                reads.add(new Read(next, client.read(next, n)));
                next += n;
            }
            Read r = reads.poll();
            if (r == null) {
                return -1;
            }
            byte[] data = r.data().join();
            for (int i = 0; i < data.length; i++) {
                if (data[i] != 0) {
                    reads.forEach(x -> x.data().cancel(false));
                    return r.offset() + i;
                }
            }
        }
    }

    /**
     * Whether there is more to read from {@code next}; with BLOCK_STATUS, asks about what follows and skips the
     * extents that read as zeroes until one that may hold data (or the end) is found.
     */
    private boolean nextRange() {
        while (next >= readableEnd && next < size) {
            List<MetaContext.Extent> extents = client.blockStatus(next, (int) Math.min(STATUS_SPAN, size - next))
                    .join();
            long at = next;
            for (MetaContext.Extent e : extents) {
                long n = Math.min(e.length(), size - at);
                if (!e.zero()) {
                    // data (or unknown) from here: read this extent, then ask again
                    next = at;
                    readableEnd = at + n;
                    return true;
                }
                at += n;
                if (at >= size) {
                    break;
                }
            }
            if (at == next) {
                readableEnd = size; // a server that answered nothing usable: read the rest
                return true;
            }
            next = at;
            readableEnd = at;
        }
        return next < readableEnd;
    }

    private record Read(long offset, CompletableFuture<byte[]> data) {
    }
}
