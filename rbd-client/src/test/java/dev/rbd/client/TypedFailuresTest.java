package dev.rbd.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.rbd.client.ConnectFailedException.Reason;
import dev.rbd.client.internal.ConnectFailures;
import dev.rbd.protocol.NbdReplyType;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.NoRouteToHostException;
import java.net.ServerSocket;
import java.net.UnknownHostException;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** Each way a connect can fail surfaces as its own type, which callers tell apart without reading messages. */
class TypedFailuresTest {
    private static final ClientOptions QUICK = ClientOptions.builder().connectTimeout(Duration.ofSeconds(5)).build();

    @Test
    void unknownExportIsUnknownExportException() throws Exception {
        try (FakeServer server = FakeServer.refusing(0x80000006, "")) {
            assertThatThrownBy(() -> RbdClient.connect(server.uri() + "nope", QUICK))
                    .isInstanceOfSatisfying(UnknownExportException.class, e -> {
                        assertThat(e.export()).isEqualTo("nope");
                        assertThat(e.replyType()).isEqualTo(NbdReplyType.ERR_UNKNOWN);
                        assertThat(e).hasMessage("export 'nope': unknown export");
                    });
        }
    }

    @Test
    void policyRefusalCarriesTheServersText() throws Exception {
        try (FakeServer server = FakeServer.refusing(0x80000002, "export 'disk' is in use by another writer")) {
            assertThatThrownBy(() -> RbdClient.connect(server.uri() + "disk", QUICK))
                    .isInstanceOfSatisfying(PolicyRefusedException.class, e -> {
                        assertThat(e.replyType()).isEqualTo(NbdReplyType.ERR_POLICY);
                        assertThat(e.serverMessage()).isEqualTo("export 'disk' is in use by another writer");
                    });
        }
    }

    @Test
    void otherOptionErrorsAttachTheReplyType() throws Exception {
        try (FakeServer server = FakeServer.refusing(0x80000007, "")) {
            assertThatThrownBy(() -> RbdClient.connect(server.uri() + "disk", QUICK))
                    .isExactlyInstanceOf(OptionRefusedException.class)
                    .hasMessage("export 'disk': server is shutting down")
                    .satisfies(e -> assertThat(((OptionRefusedException) e).replyType())
                            .isEqualTo(NbdReplyType.ERR_SHUTDOWN));
        }
    }

    @Test
    void aClosedPortIsRefused() throws Exception {
        int closedPort;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            closedPort = s.getLocalPort();
        }
        String uri = "nbd://127.0.0.1:" + closedPort + "/disk";
        assertThatThrownBy(() -> RbdClient.connect(uri, QUICK))
                .isInstanceOfSatisfying(ConnectFailedException.class, e -> {
                    assertThat(e.reason()).isEqualTo(Reason.REFUSED);
                    assertThat(e.uri()).isEqualTo(uri);
                    assertThat(e).hasMessage("cannot connect to " + uri + ": connection refused");
                });
    }

    @Test
    void transportErrorsAreClassifiedByReason() {
        assertThat(ConnectFailures.of("nbd://h/x", new ConnectException(
                "finishConnect(..) failed with error(-111): Connection refused")).reason()).isEqualTo(Reason.REFUSED);
        assertThat(ConnectFailures.of("nbd://h/x", new NoRouteToHostException("No route to host")).reason())
                .isEqualTo(Reason.UNREACHABLE);
        assertThat(ConnectFailures.of("nbd://h/x", new ConnectException(
                "connect(..) failed with error(-2): No such file or directory")).reason()).isEqualTo(Reason.UNREACHABLE);
        assertThat(ConnectFailures.of("nbd://h/x", new io.netty.channel.ConnectTimeoutException(
                "connection timed out after 10000 ms: h/10.0.0.1:10809")).detail()).isEqualTo("connection timed out");
        assertThat(ConnectFailures.of("nbd://h/x", new UnknownHostException("h")).reason())
                .isEqualTo(Reason.UNKNOWN_HOST);
    }
}
