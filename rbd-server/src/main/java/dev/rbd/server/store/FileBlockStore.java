package dev.rbd.server.store;

import com.sun.jna.LastErrorException;
import com.sun.jna.Memory;
import io.netty.buffer.ByteBuf;
import io.netty.util.concurrent.FastThreadLocal;
import java.io.EOFException;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A regular file or a block device. Data moves with positional reads and writes on one shared {@link FileChannel}
 * (so one fdatasync covers the writes of every connection); hole punching and zeroing go through fallocate on a
 * second descriptor of the same file.
 */
public final class FileBlockStore implements BlockStore {
    private static final Logger log = LoggerFactory.getLogger(FileBlockStore.class);
    private static final int ZERO_CHUNK = 1 << 20;
    private static final ByteBuffer ZEROES = ByteBuffer.allocateDirect(ZERO_CHUNK).asReadOnlyBuffer();

    private final Path path;
    private final FileChannel channel;
    private final int fd;
    private final long size;
    private final boolean blockDevice;
    private final boolean readOnly;
    private volatile boolean punchWorks;
    private volatile boolean zeroRangeWorks;
    private volatile boolean nowaitWorks = true;
    /** SEEK_DATA/SEEK_HOLE work here; cleared (and logged once) the first time they do not. */
    private final AtomicBoolean seekWorks = new AtomicBoolean(true);
    /** One struct iovec per thread for preadv2. */
    private static final FastThreadLocal<Memory> IOVEC = new FastThreadLocal<>() {
        @Override
        protected Memory initialValue() {
            return new Memory(16);
        }
    };

    private FileBlockStore(Path path, FileChannel channel, int fd, long size, boolean blockDevice, boolean readOnly) {
        this.path = path;
        this.channel = channel;
        this.fd = fd;
        this.size = size;
        this.blockDevice = blockDevice;
        this.readOnly = readOnly;
        this.punchWorks = fd >= 0 && !readOnly;
        this.zeroRangeWorks = fd >= 0 && !readOnly;
    }

    /** Opens an existing regular file or block device. */
    public static FileBlockStore open(Path path, boolean readOnly) throws IOException {
        if (!Files.exists(path)) {
            throw new NoSuchFileException(path.toString(), null, "image does not exist (use --create SIZE)");
        }
        if (Files.isDirectory(path)) {
            throw new IOException(path + ": is a directory, not an image");
        }
        boolean device = !Files.isRegularFile(path);
        FileChannel ch = readOnly ? FileChannel.open(path, StandardOpenOption.READ)
                : FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE);
        int fd = -1;
        try {
            lock(ch, path, readOnly);
            // Files.size() says 0 for a block device; the channel's size is the device's real size.
            long size = ch.size();
            if (NativeIo.available()) {
                try {
                    fd = NativeIo.open(path.toString(), (readOnly ? NativeIo.O_RDONLY : NativeIo.O_RDWR)
                            | NativeIo.O_CLOEXEC);
                } catch (LastErrorException e) {
                    log.warn("{}: no second descriptor for fallocate (errno {}): trim and fast zero disabled", path,
                            e.getErrorCode());
                }
            }
            return new FileBlockStore(path, ch, fd, size, device, readOnly);
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
    }

    /**
     * Takes an advisory lock on the whole image (fcntl, as qemu's image locking does): exclusive for a read-write
     * export, shared for a read-only one. So a second server refuses an image another server writes, and refuses to
     * write one another server serves; any number of servers may read it together. Closing the channel releases it.
     */
    private static void lock(FileChannel ch, Path path, boolean readOnly) throws IOException {
        FileLock lock;
        try {
            lock = ch.tryLock(0, Long.MAX_VALUE, readOnly);
        } catch (OverlappingFileLockException e) {
            throw new IOException(path + ": exported twice by this server (one export per image)");
        }
        if (lock == null) {
            throw new IOException(path + ": in use by another process that holds a lock on it ("
                    + (readOnly ? "it writes the image" : "it serves the image") + "); one server may write an image, "
                    + "and only while no other serves it");
        }
    }

    /** Creates a sparse image of {@code size} bytes; fails if the file exists. */
    /** Syncs directory {@code dir}, so that a rename or a new file in it survives a crash. */
    static void syncDirectory(Path dir) throws IOException {
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        } catch (IOException e) {
            // some file systems refuse to sync a directory; their renames are then as durable as they get
            if (!(e.getMessage() != null && e.getMessage().contains("Is a directory"))) {
                throw e;
            }
        }
    }

    public static void createSparse(Path path, long size) throws IOException {
        Path parent = path.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        Files.createFile(path);
        try (RandomAccessFile f = new RandomAccessFile(path.toFile(), "rw")) {
            f.setLength(size);
        }
    }

    public boolean isBlockDevice() {
        return blockDevice;
    }

    public Path path() {
        return path;
    }

    /** Whether it was opened read-only (the file is never written). */
    public boolean isReadOnly() {
        return readOnly;
    }

    @Override
    public long size() {
        return size;
    }

    @Override
    public void read(long offset, ByteBuf dst, int length) throws IOException {
        int start = dst.writerIndex();
        dst.ensureWritable(length);
        ByteBuffer nb = dst.nioBuffer(start, length);
        long pos = offset;
        while (nb.hasRemaining()) {
            int n = channel.read(nb, pos);
            if (n < 0) {
                throw new EOFException(path + ": end of file at " + pos + " (the image shrank?)");
            }
            pos += n;
        }
        dst.writerIndex(start + length);
    }

    @Override
    public boolean readIfCached(long offset, ByteBuf dst, int length) {
        if (fd < 0 || !nowaitWorks || !dst.hasMemoryAddress() || dst.writableBytes() < length) {
            return false;
        }
        int start = dst.writerIndex();
        Memory iov = IOVEC.get();
        iov.setLong(0, dst.memoryAddress() + start);
        iov.setLong(8, length);
        long n;
        try {
            n = NativeIo.preadv2(fd, iov, 1, offset, NativeIo.RWF_NOWAIT);
        } catch (LastErrorException e) {
            if (e.getErrorCode() != NativeIo.EAGAIN && NativeIo.isUnsupported(e.getErrorCode())) {
                nowaitWorks = false;
                log.info("{}: reads that cannot wait are not supported here (errno {}); all reads go to I/O threads",
                        path, e.getErrorCode());
            }
            return false;
        }
        if (n != length) {
            return false;   // partly in memory, or the end of the file: the I/O thread reads it whole
        }
        dst.writerIndex(start + length);
        return true;
    }

    @Override
    public void write(long offset, ByteBuf src) throws IOException {
        long pos = offset;
        if (src.nioBufferCount() == 1) {
            pos = writeFully(src.nioBuffer(), pos);
        } else {
            for (ByteBuffer nb : src.nioBuffers()) {
                pos = writeFully(nb, pos);
            }
        }
    }

    private long writeFully(ByteBuffer nb, long pos) throws IOException {
        while (nb.hasRemaining()) {
            pos += channel.write(nb, pos);
        }
        return pos;
    }

    @Override
    public void sync() throws IOException {
        channel.force(false);
    }

    @Override
    public void trim(long offset, long length) throws IOException {
        if (punchWorks && length > 0) {
            punchWorks = fallocate(NativeIo.FALLOC_FL_PUNCH_HOLE | NativeIo.FALLOC_FL_KEEP_SIZE, offset, length,
                    "punch hole");
        }
    }

    @Override
    public void writeZeroes(long offset, long length, boolean mayPunch, boolean fastOnly) throws IOException {
        if (length == 0) {
            return;
        }
        if (mayPunch && punchWorks) {
            if (fallocate(NativeIo.FALLOC_FL_PUNCH_HOLE | NativeIo.FALLOC_FL_KEEP_SIZE, offset, length,
                    "punch hole")) {
                return;
            }
            punchWorks = false;
        }
        if (zeroRangeWorks) {
            if (fallocate(NativeIo.FALLOC_FL_ZERO_RANGE | NativeIo.FALLOC_FL_KEEP_SIZE, offset, length,
                    "zero range")) {
                return;
            }
            zeroRangeWorks = false;
        }
        if (fastOnly) {
            throw new FastZeroUnsupportedException(path + ": no fast way to zero on this file system");
        }
        long pos = offset;
        long end = offset + length;
        while (pos < end) {
            ByteBuffer z = ZEROES.duplicate();
            z.limit((int) Math.min(ZERO_CHUNK, end - pos));
            pos = writeFully(z, pos);
        }
    }

    /**
     * Holes found with lseek SEEK_DATA/SEEK_HOLE report HOLE|ZERO, data 0. A block device, or a file system where
     * lseek cannot find holes, reports all data, which is always true.
     */
    @Override
    public void allocation(Extents out) throws IOException {
        while (!out.full()) {
            if (blockDevice || fd < 0 || !seekWorks.get()) {
                out.add(out.remaining(), 0);
                return;
            }
            long pos = out.position();
            long data = seek(pos, NativeIo.SEEK_DATA);
            if (data < 0) {
                continue; // lseek is not supported: the loop reports the rest as data
            }
            if (data > pos) {
                out.add(data - pos, STATE_HOLE | STATE_ZERO);
                continue;
            }
            long hole = seek(pos, NativeIo.SEEK_HOLE);
            if (hole < 0) {
                continue;
            }
            // hole == pos only if the file changed between the two calls: report a little data and look again
            out.add(hole > pos ? hole - pos : Math.min(4096, out.remaining()), 0);
        }
    }

    /**
     * lseek with SEEK_DATA or SEEK_HOLE from {@code pos}: the offset found; past the end of the file (ENXIO: no data
     * follows) the store's size; -1 when lseek cannot do this here (then {@link #seekWorks} is cleared).
     */
    private long seek(long pos, int whence) throws IOException {
        try {
            long found = NativeIo.lseek(fd, pos, whence);
            return Math.min(found, size);
        } catch (LastErrorException e) {
            int errno = e.getErrorCode();
            if (errno == NativeIo.ENXIO) {
                return size;
            }
            if (NativeIo.isUnsupported(errno)) {
                if (seekWorks.compareAndSet(true, false)) {
                    log.info("{}: finding holes (lseek SEEK_DATA/SEEK_HOLE) not supported here (errno {}); block status"
                            + " reports all data", path, errno);
                }
                return -1;
            }
            throw new IOException(path + ": lseek(" + (whence == NativeIo.SEEK_DATA ? "SEEK_DATA" : "SEEK_HOLE")
                    + ") at " + pos + " failed, errno " + errno);
        }
    }

    /** True when done, false when this file does not support the mode; other errors are thrown. */
    private boolean fallocate(int mode, long offset, long length, String what) throws IOException {
        for (;;) {
            try {
                NativeIo.fallocate(fd, mode, offset, length);
                return true;
            } catch (LastErrorException e) {
                int errno = e.getErrorCode();
                if (errno == NativeIo.EINTR) {
                    continue;
                }
                if (NativeIo.isUnsupported(errno)) {
                    log.info("{}: {} not supported here (errno {}), falling back", path, what, errno);
                    return false;
                }
                throw new IOException(path + ": fallocate(" + what + ") failed, errno " + errno);
            }
        }
    }

    @Override
    public void cache(long offset, long length) {
        if (fd >= 0 && length > 0) {
            NativeIo.posix_fadvise(fd, offset, length, NativeIo.POSIX_FADV_WILLNEED);
        }
    }

    @Override
    public boolean canTrim() {
        return punchWorks;
    }

    @Override
    public boolean canFastZero() {
        return zeroRangeWorks || punchWorks;
    }

    @Override
    public String describe() {
        return (blockDevice ? "block device " : "file ") + path;
    }

    @Override
    public void close() throws IOException {
        try {
            channel.close();
        } finally {
            if (fd >= 0) {
                try {
                    NativeIo.close(fd);
                } catch (LastErrorException e) {
                    log.warn("{}: close failed, errno {}", path, e.getErrorCode());
                }
            }
        }
    }
}
