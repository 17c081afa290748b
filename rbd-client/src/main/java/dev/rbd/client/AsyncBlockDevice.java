package dev.rbd.client;

import java.util.concurrent.CompletableFuture;

/**
 * The asynchronous operations of a block device, each returning a future that fails with an {@link RbdException}.
 * {@code RbdClient} implements it, and {@link BlockDevice} is the blocking view of any implementation, so the facade
 * does not tie itself to one client (a client striping an image over several servers gets it too).
 */
public interface AsyncBlockDevice {
    /** What the server told about the export. */
    ExportInfo info();

    /** Reads {@code length} bytes at {@code offset} (unsigned). */
    CompletableFuture<byte[]> read(long offset, int length);

    /** Writes {@code data} at {@code offset}; {@code data} must stay unchanged until the future completes. */
    CompletableFuture<Void> write(long offset, byte[] data);

    /** Makes every write submitted before this call durable. */
    CompletableFuture<Void> flush();

    /** Tells the server that a range is no longer needed. */
    CompletableFuture<Void> trim(long offset, long length);
}
