package dev.rbd.server.transmission;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rbd.protocol.NbdError;
import dev.rbd.server.store.FastZeroUnsupportedException;
import dev.rbd.server.store.SyncFailedException;
import java.io.EOFException;
import java.io.IOException;
import java.nio.channels.NonWritableChannelException;
import java.nio.file.AccessDeniedException;
import java.util.concurrent.CompletionException;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** The one table from storage failures to NBD errors. */
class StoreErrorsTest {
    static Stream<Arguments> table() {
        return Stream.of(
                Arguments.of(new IOException("No space left on device"), NbdError.ENOSPC),
                Arguments.of(new IOException("Disk quota exceeded"), NbdError.ENOSPC),
                Arguments.of(new IOException("File too large"), NbdError.ENOSPC),
                Arguments.of(new IOException("Read-only file system"), NbdError.EPERM),
                Arguments.of(new AccessDeniedException("/x"), NbdError.EPERM),
                Arguments.of(new NonWritableChannelException(), NbdError.EPERM),
                Arguments.of(new FastZeroUnsupportedException("no"), NbdError.ENOTSUP),
                Arguments.of(new SyncFailedException("sync failed", new IOException("EIO")), NbdError.EIO),
                Arguments.of(new IOException("Input/output error"), NbdError.EIO),
                Arguments.of(new EOFException(), NbdError.EIO),
                Arguments.of(new IllegalStateException("bug"), NbdError.EIO),
                Arguments.of(new CompletionException(new IOException("No space left on device")), NbdError.ENOSPC));
    }

    @ParameterizedTest
    @MethodSource("table")
    void mapsStoreFailuresToNbdErrors(Throwable failure, NbdError expected) {
        Outcome o = StoreErrors.toOutcome(failure);
        assertThat(o.error()).isEqualTo(expected);
        assertThat(o.message()).isNotBlank();
        assertThat(o.data()).isNull();
    }
}
