package dev.rbd.server.transmission;

import dev.rbd.protocol.NbdError;
import dev.rbd.server.store.FastZeroUnsupportedException;
import dev.rbd.server.store.SyncFailedException;
import java.nio.channels.NonWritableChannelException;
import java.nio.file.AccessDeniedException;
import java.nio.file.ReadOnlyFileSystemException;
import java.util.concurrent.CompletionException;

/** The one place where storage failures become NBD errors. */
public final class StoreErrors {
    private StoreErrors() {
    }

    public static Outcome toOutcome(Throwable t) {
        Throwable e = t instanceof CompletionException && t.getCause() != null ? t.getCause() : t;
        return Outcome.error(toError(e), describe(e));
    }

    static NbdError toError(Throwable e) {
        if (e instanceof OutOfMemoryError) {
            return NbdError.ENOMEM;
        }
        if (e instanceof FencedException) {
            return NbdError.ESHUTDOWN;
        }
        if (e instanceof FastZeroUnsupportedException) {
            return NbdError.ENOTSUP;
        }
        if (e instanceof SyncFailedException) {
            return NbdError.EIO;
        }
        if (e instanceof AccessDeniedException || e instanceof ReadOnlyFileSystemException
                || e instanceof NonWritableChannelException) {
            return NbdError.EPERM;
        }
        String m = e.getMessage();
        if (m != null && (m.contains("No space left on device") || m.contains("Disk quota exceeded")
                || m.contains("File too large"))) {
            return NbdError.ENOSPC;
        }
        if (m != null && (m.contains("Read-only file system") || m.contains("Operation not permitted"))) {
            return NbdError.EPERM;
        }
        return NbdError.EIO;
    }

    private static String describe(Throwable e) {
        String m = e.getMessage();
        return m != null ? m : e.getClass().getSimpleName();
    }
}
