package dev.rbd.cli;

import java.nio.ByteBuffer;
import java.util.concurrent.CompletableFuture;

/** One side of {@code rbd-cli copy}: a local file or an NBD export, read and written by offset. */
interface CopyEndpoint extends AutoCloseable {
    /** How messages name it: the path, or {@code export 'name'}. */
    String describe();

    long size();

    /** Zero runs are found in blocks of this size (the export's preferred block, a file system block). */
    int blockSize();

    /**
     * Makes this side ready to receive {@code length} bytes: a regular file is emptied and set to that length (so
     * what is skipped reads as zeroes); an export is checked to be writable and large enough.
     */
    void prepareTarget(long length) throws Exception;

    /**
     * Fills {@code dst} from its position to its limit with the bytes at {@code offset}; its position and limit stay
     * as they were, and it is the caller's again once the future completes (with {@code dst}).
     */
    CompletableFuture<ByteBuffer> read(long offset, ByteBuffer dst);

    /**
     * The extent from {@code offset} (below {@link #size}) as far as this side knows: data up to the end unless it
     * can tell (an export whose server gives BLOCK_STATUS), so what reads as zeroes need not be read.
     */
    default ExtentWalk.Range extentAt(long offset) {
        return new ExtentWalk.Range(offset, size() - offset, 0);
    }

    /**
     * Writes {@code data} from its position to its limit (both left as they were); those bytes stay unchanged until
     * the future completes.
     */
    CompletableFuture<Void> write(long offset, ByteBuffer data);

    /** Makes a range read as zeroes, at no cost where it already does (a file emptied by {@link #prepareTarget}). */
    CompletableFuture<Void> zero(long offset, long length);

    /** Makes everything written durable: FLUSH on an export, fsync on a file. */
    CompletableFuture<Void> flush();

    @Override
    void close();
}
