package dev.rbd.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rbd.client.ConnectFailedException;
import dev.rbd.client.ConnectFailedException.Reason;
import dev.rbd.client.NbdErrorException;
import dev.rbd.client.RbdException;
import dev.rbd.client.TlsFailedException;
import dev.rbd.client.UnknownExportException;
import dev.rbd.client.internal.ConnectFailures;
import dev.rbd.protocol.NbdError;
import dev.rbd.protocol.NbdReplyType;
import java.net.ConnectException;
import java.net.UnknownHostException;
import java.nio.file.NoSuchFileException;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import org.junit.jupiter.api.Test;

/** The one-line messages, from the exceptions the client and the JDK throw. */
class FailuresTest {
    /** What the client throws when the transport failed to connect with {@code cause}. */
    private static RbdException cannotConnect(String uri, Throwable cause) {
        return ConnectFailures.of(uri, cause);
    }

    @Test
    void aTlsFailureIsItsOwnLineEvenWrapped() {
        TlsFailedException e = new TlsFailedException("nbds://h:10809/x", "TLS handshake failed: certificate not "
                + "trusted (not signed by the CA in ca-cert.pem)", new javax.net.ssl.SSLHandshakeException("PKIX"));
        assertThat(Failures.describe(new CompletionException(e)))
                .isEqualTo("cannot connect to nbds://h:10809/x: TLS handshake failed: certificate not trusted (not "
                        + "signed by the CA in ca-cert.pem)");
    }

    @Test
    void nativeConnectErrorsReadAsWords() {
        assertThat(Failures.describe(cannotConnect("nbd://127.0.0.1:1/x",
                new ConnectException("finishConnect(..) failed with error(-111): Connection refused"))))
                .isEqualTo("cannot connect to nbd://127.0.0.1:1/x: connection refused");
        assertThat(Failures.describe(cannotConnect("nbd://[::1]:1/x",
                new ConnectException("Connection refused: /[0:0:0:0:0:0:0:1]:1"))))
                .isEqualTo("cannot connect to nbd://[::1]:1/x: connection refused");
        assertThat(Failures.describe(cannotConnect("nbd://10.9.9.9:10809/x",
                new ConnectException("finishConnect(..) failed with error(-113): No route to host"))))
                .isEqualTo("cannot connect to nbd://10.9.9.9:10809/x: no route to host");
        assertThat(Failures.describe(cannotConnect("nbd+unix:///x?socket=/tmp/none",
                new ConnectException("connect(..) failed with error(-2): No such file or directory"))))
                .isEqualTo("cannot connect to nbd+unix:///x?socket=/tmp/none: no such file or directory");
        assertThat(Failures.describe(cannotConnect("nbd://nosuch.invalid:10809/x",
                new UnknownHostException("nosuch.invalid"))))
                .isEqualTo("cannot connect to nbd://nosuch.invalid:10809/x: unknown host 'nosuch.invalid'");
    }

    @Test
    void connectFailuresAreMappedByTypeNotByText() {
        // a message that reads like nothing the transport says: only the type and its reason count
        assertThat(Failures.describe(new ConnectFailedException("nbd://h:1/x", Reason.TIMED_OUT,
                "connection timed out", null))).isEqualTo("cannot connect to nbd://h:1/x: connection timed out");
        assertThat(Failures.describe(new RbdException("cannot connect to nbd://h:1/x: finishConnect(..) failed: "
                + "Connection refused"))).as("a plain RbdException is printed as it is")
                .isEqualTo("cannot connect to nbd://h:1/x: finishConnect(..) failed: Connection refused");
    }

    @Test
    void wrappersAreLookedThrough() {
        RbdException e = new UnknownExportException("export 'x': unknown export", "x", NbdReplyType.ERR_UNKNOWN, "");
        assertThat(Failures.describe(new CompletionException(new ExecutionException(e))))
                .isEqualTo("export 'x': unknown export");
    }

    @Test
    void serverErrorsKeepTheirNbdName() {
        assertThat(Failures.describe(new NbdErrorException(NbdError.ENOSPC, "WRITE at 0+4096 failed: ENOSPC")))
                .isEqualTo("WRITE at 0+4096 failed: ENOSPC");
        assertThat(Failures.describe(new NbdErrorException(NbdError.EPERM, "refused")))
                .isEqualTo("refused (EPERM)");
    }

    @Test
    void fileErrorsNameTheFile() {
        assertThat(Failures.describe(new NoSuchFileException("/tmp/in.bin"))).isEqualTo("no such file: /tmp/in.bin");
        assertThat(Failures.describe(new IllegalStateException("export 'ro' is read-only")))
                .isEqualTo("export 'ro' is read-only");
    }
}
