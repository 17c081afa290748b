package dev.rbd.cli;

import dev.rbd.client.RbdClient;
import java.util.ArrayDeque;
import java.util.concurrent.CompletableFuture;

/**
 * Finds the first byte of an export that is not zero, by reading all of it in large requests, a few in flight at a
 * time, so memory stays at {@link #CHUNK} x {@link #IN_FLIGHT} whatever the export's size. Every byte is read:
 * a sample can miss the one block that holds a file system's superblock.
 */
final class DataScan {
    /** Large enough that a request's cost is its bytes, within every server's usual maximum payload. */
    static final int CHUNK = 4 << 20;
    /** Enough to keep loopback and a LAN busy; 32 MiB of memory at most. */
    static final int IN_FLIGHT = 8;

    private DataScan() {
    }

    /** The offset of the first byte of {@code [0, size)} that is not zero, or -1 when all of them are zero. */
    static long firstNonZero(RbdClient client, long size) {
        int min = Math.max(1, client.info().minimumBlock());
        int chunk = Math.max(min, Math.min(CHUNK, client.info().maxPayload()) / min * min);
        ArrayDeque<Read> reads = new ArrayDeque<>();
        long next = 0;
        while (next < size || !reads.isEmpty()) {
            while (next < size && reads.size() < IN_FLIGHT) {
                int n = (int) Math.min(chunk, size - next);
                reads.add(new Read(next, client.read(next, n)));
                next += n;
            }
            Read r = reads.poll();
            byte[] data = r.data().join();
            for (int i = 0; i < data.length; i++) {
                if (data[i] != 0) {
                    reads.forEach(x -> x.data().cancel(false));
                    return r.offset() + i;
                }
            }
        }
        return -1;
    }

    private record Read(long offset, CompletableFuture<byte[]> data) {
    }
}
