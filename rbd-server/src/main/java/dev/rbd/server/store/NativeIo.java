package dev.rbd.server.store;

import com.sun.jna.LastErrorException;
import com.sun.jna.Native;
import com.sun.jna.Platform;
import com.sun.jna.Pointer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The few Linux calls Java 17's FileChannel cannot make: fallocate (punch hole, zero range), posix_fadvise and
 * preadv2 (for RWF_NOWAIT), lseek with SEEK_DATA/SEEK_HOLE (FileChannel cannot find holes).
 * When JNA cannot load (another OS, a locked-down JVM) every call reports "unsupported" and callers fall back.
 */
final class NativeIo {
    private static final Logger log = LoggerFactory.getLogger(NativeIo.class);

    static final int O_RDONLY = 0;
    static final int O_RDWR = 2;
    static final int O_CLOEXEC = 0x80000;
    static final int FALLOC_FL_KEEP_SIZE = 0x01;
    static final int FALLOC_FL_PUNCH_HOLE = 0x02;
    static final int FALLOC_FL_ZERO_RANGE = 0x10;
    static final int POSIX_FADV_WILLNEED = 3;
    static final int POSIX_FADV_DONTNEED = 4;
    /** preadv2: fail with EAGAIN rather than wait for the disk. */
    static final int RWF_NOWAIT = 0x08;
    /** lseek: the next byte of data at or after the offset. */
    static final int SEEK_DATA = 3;
    /** lseek: the next hole at or after the offset (the end of the file counts as one). */
    static final int SEEK_HOLE = 4;
    static final int EAGAIN = 11;
    /** lseek SEEK_DATA/SEEK_HOLE: the offset is at or past the end of the file (or, for SEEK_DATA, no data follows). */
    static final int ENXIO = 6;
    static final int EOPNOTSUPP = 95;
    static final int ENOSYS = 38;
    static final int EINVAL = 22;
    static final int EINTR = 4;

    private static final boolean AVAILABLE;

    static {
        boolean ok = false;
        if (Platform.isLinux()) {
            try {
                Native.register(NativeIo.class, Platform.C_LIBRARY_NAME);
                ok = true;
            } catch (Throwable t) {
                log.warn("native file calls unavailable ({}): trim and fast zeroing are disabled", t.toString());
            }
        }
        AVAILABLE = ok;
    }

    private NativeIo() {
    }

    static boolean available() {
        return AVAILABLE;
    }

    static native int open(String path, int flags) throws LastErrorException;

    static native int close(int fd) throws LastErrorException;

    static native int fallocate(int fd, int mode, long offset, long len) throws LastErrorException;

    /** {@code iov} points to {@code iovcnt} struct iovec {void *base; size_t len}. */
    static native long preadv2(int fd, Pointer iov, int iovcnt, long offset, int flags) throws LastErrorException;

    /** {@code off_t} is 64 bits on the 64-bit Linux this runs on. */
    static native long lseek(int fd, long offset, int whence) throws LastErrorException;

    /** Returns an error number, not -1 (POSIX). */
    static native int posix_fadvise(int fd, long offset, long len, int advice);

    /** True when the errno says the operation is not supported by this file or file system. */
    static boolean isUnsupported(int errno) {
        return errno == EOPNOTSUPP || errno == ENOSYS || errno == EINVAL;
    }
}
