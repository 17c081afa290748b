package dev.rbd.cli;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.CompletableFuture;

/**
 * A local file or block device. Positional reads and writes on the calling thread: from the page cache they take
 * microseconds, next to the network round trips of the other side.
 */
final class FileEndpoint implements CopyEndpoint {
    /** File system block: zero runs shorter than this are written, not left as holes. */
    static final int BLOCK = 4096;
    private static final ByteBuffer ZEROES = ByteBuffer.allocateDirect(1 << 20).asReadOnlyBuffer();

    private final Path path;
    private final FileChannel channel;
    private final RandomAccessFile target;
    /** Emptied by {@link #prepareTarget}: zero runs are holes already. */
    private boolean holes;

    private FileEndpoint(Path path, FileChannel channel, RandomAccessFile target) {
        this.path = path;
        this.channel = channel;
        this.target = target;
    }

    static FileEndpoint openSource(Path path) throws IOException {
        try {
            return new FileEndpoint(path, FileChannel.open(path, StandardOpenOption.READ), null);
        } catch (NoSuchFileException e) {
            throw new NoSuchFileException(path + ": no such file");
        }
    }

    static FileEndpoint openTarget(Path path) throws IOException {
        if (Files.isDirectory(path)) {
            throw new IOException(path + " is a directory");
        }
        RandomAccessFile f = new RandomAccessFile(path.toFile(), "rw");
        return new FileEndpoint(path, f.getChannel(), f);
    }

    @Override
    public String describe() {
        return path.toString();
    }

    @Override
    public long size() {
        try {
            // FileChannel, not Files.size: it gives a block device's real size
            return channel.size();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public int blockSize() {
        return BLOCK;
    }

    @Override
    public void prepareTarget(long length) throws IOException {
        if (Files.isRegularFile(path)) {
            target.setLength(0);
            target.setLength(length);
            holes = true;
        } else if (size() < length) {
            throw new IOException(path + " has " + size() + " bytes, less than the source's " + length);
        }
    }

    @Override
    public CompletableFuture<ByteBuffer> read(long offset, ByteBuffer dst) {
        ByteBuffer b = dst.duplicate();
        int base = b.position();
        try {
            while (b.hasRemaining()) {
                if (channel.read(b, offset + b.position() - base) < 0) {
                    throw new IOException(path + " ended at " + (offset + b.position() - base) + " while it was "
                            + "read (did it shrink?)");
                }
            }
            return CompletableFuture.completedFuture(dst);
        } catch (IOException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    @Override
    public CompletableFuture<Void> write(long offset, ByteBuffer data) {
        ByteBuffer b = data.duplicate();
        int base = b.position();
        try {
            while (b.hasRemaining()) {
                channel.write(b, offset + b.position() - base);
            }
            return CompletableFuture.completedFuture(null);
        } catch (IOException e) {
            return CompletableFuture.failedFuture(new IOException("write to " + path + " at offset " + offset
                    + " failed: " + e.getMessage(), e));
        }
    }

    @Override
    public CompletableFuture<Void> zero(long offset, long length) {
        // a device (or a file not emptied) still holds old data there: write the zeroes
        for (long done = 0; !holes && done < length; ) {
            int n = (int) Math.min(ZEROES.capacity(), length - done);
            CompletableFuture<Void> w = write(offset + done, ZEROES.duplicate().limit(n));
            if (w.isCompletedExceptionally()) {
                return w;
            }
            done += n;
        }
        return CompletableFuture.completedFuture(null);
    }

    @Override
    public CompletableFuture<Void> flush() {
        try {
            // with metadata: the length set by prepareTarget must survive a crash as well
            channel.force(true);
            return CompletableFuture.completedFuture(null);
        } catch (IOException e) {
            return CompletableFuture.failedFuture(new IOException("fsync of " + path + " failed: " + e.getMessage(),
                    e));
        }
    }

    @Override
    public void close() {
        try {
            channel.close();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
