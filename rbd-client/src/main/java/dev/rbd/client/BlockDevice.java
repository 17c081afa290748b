package dev.rbd.client;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/**
 * A blocking facade over an {@link AsyncBlockDevice} (an {@code RbdClient}'s {@code blocking()}): each call waits for
 * its future and rethrows its {@link RbdException}.
 */
public final class BlockDevice {
    private final AsyncBlockDevice client;

    /** The blocking view of {@code client}. */
    public BlockDevice(AsyncBlockDevice client) {
        this.client = client;
    }

    public long size() {
        return client.info().size();
    }

    /** Fills {@code buf} from {@code offset}. */
    public void read(long offset, byte[] buf) {
        byte[] data = join(client.read(offset, buf.length));
        System.arraycopy(data, 0, buf, 0, buf.length);
    }

    public void write(long offset, byte[] data) {
        join(client.write(offset, data));
    }

    public void flush() {
        join(client.flush());
    }

    public void trim(long offset, long length) {
        join(client.trim(offset, length));
    }

    private static <T> T join(CompletableFuture<T> f) {
        try {
            return f.join();
        } catch (CompletionException e) {
            if (e.getCause() instanceof RbdException r) {
                throw r;
            }
            throw e;
        }
    }
}
