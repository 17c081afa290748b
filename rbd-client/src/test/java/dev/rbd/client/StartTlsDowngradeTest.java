package dev.rbd.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Servers that try to keep a client that asked for TLS in plaintext (CVE-2019-14842 was nbd-client going along): no
 * fixed-newstyle, STARTTLS refused or dropped, plaintext behind the ACK. Each connect fails with a
 * {@link TlsFailedException}, and the fake server never receives an option other than STARTTLS, nor any plaintext
 * after it.
 */
class StartTlsDowngradeTest {
    private static final long IHAVEOPT = 0x49484156454F5054L;
    private static final int STARTTLS = 5;
    private static final int ACK = 1;
    private static final int ERR_UNSUP = 0x80000001;
    private static final int ERR_POLICY = 0x80000002;

    @TempDir
    Path certificates;

    /** What one fake server saw: the options' codes, and the raw bytes after the STARTTLS it accepted. */
    private static final class Seen {
        final List<Integer> options = new CopyOnWriteArrayList<>();
        final ByteArrayOutputStream afterAck = new ByteArrayOutputStream();
        final CompletableFuture<Void> done = new CompletableFuture<>();
    }

    @FunctionalInterface
    private interface Answer {
        /** Answers STARTTLS; returns whether to keep reading options. */
        boolean answer(DataInputStream in, DataOutputStream out, Seen seen) throws IOException;
    }

    private String uri(ServerSocket s) {
        return "nbds://127.0.0.1:" + s.getLocalPort() + "/?tls-verify-peer=false&tls-certificates=" + certificates;
    }

    private static ClientOptions options() {
        return ClientOptions.builder().connectTimeout(Duration.ofSeconds(10)).reconnectWait(Duration.ZERO).build();
    }

    /** A server on a free port: greets with {@code handshakeFlags}, reads the client flags and answers STARTTLS. */
    private static ServerSocket serve(int handshakeFlags, Answer answer, Seen seen) throws IOException {
        ServerSocket server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
        Thread t = new Thread(() -> {
            try (Socket s = server.accept()) {
                DataInputStream in = new DataInputStream(s.getInputStream());
                DataOutputStream out = new DataOutputStream(s.getOutputStream());
                out.writeLong(0x4e42444d41474943L);
                out.writeLong(IHAVEOPT);
                out.writeShort(handshakeFlags);
                out.flush();
                in.readInt(); // client flags
                for (;;) {
                    if (in.readLong() != IHAVEOPT) {
                        throw new IOException("not an option");
                    }
                    int option = in.readInt();
                    in.readFully(new byte[in.readInt()]);
                    seen.options.add(option);
                    if (option != STARTTLS || !answer.answer(in, out, seen)) {
                        break;
                    }
                }
            } catch (EOFException | java.net.SocketException closed) {
                // the client hung up, as it should
            } catch (IOException e) {
                seen.done.completeExceptionally(e);
            } finally {
                seen.done.complete(null);
            }
        }, "fake-starttls-server");
        t.setDaemon(true);
        t.start();
        return server;
    }

    private static void reply(DataOutputStream out, int option, int type, byte[] data) throws IOException {
        out.writeLong(0x3e889045565a9L);
        out.writeInt(option);
        out.writeInt(type);
        out.writeInt(data.length);
        out.write(data);
    }

    private void assertTlsFailure(int flags, Answer answer, String message) throws Exception {
        assertTlsFailure(flags, answer, message, true);
    }

    /** @param refused whether the failure is a refusal (a reconnect would give up) or the connection just ended */
    private void assertTlsFailure(int flags, Answer answer, String message, boolean refused) throws Exception {
        Seen seen = new Seen();
        try (ServerSocket s = serve(flags, answer, seen)) {
            assertThatThrownBy(() -> RbdClient.connect(uri(s), options()))
                    .isInstanceOfSatisfying(TlsFailedException.class, e -> assertThat(e.refused()).isEqualTo(refused))
                    .isInstanceOfSatisfying(TlsFailedException.class,
                            e -> assertThat(e.reason()).isEqualTo(ConnectFailedException.Reason.TLS))
                    .hasMessageContaining(message)
                    .satisfies(e -> assertThat(e.getMessage()).doesNotContain("\u001b", "\n"));
            seen.done.get(10, TimeUnit.SECONDS);
        }
        assertThat(seen.options).as("options the server received").allMatch(o -> o == STARTTLS);
        // whatever followed an ACK was TLS (a handshake record, 0x16), never an option in plaintext
        byte[] after = seen.afterAck.toByteArray();
        assertThat(after.length == 0 || after[0] == 0x16).as("bytes after the ACK start a TLS record").isTrue();
    }

    @Test
    void aCertificateDirectoryThatCannotBeReadFailsBeforeConnecting() {
        // nothing listens on port 1: the directory is read first, and its failure is the one reported
        assertThatThrownBy(() -> RbdClient.connect("nbds://127.0.0.1:1/?tls-certificates=" + certificates
                + "/none", options()))
                .isInstanceOf(TlsFailedException.class)
                .hasMessage("cannot connect to nbds://127.0.0.1:1/?tls-certificates=" + certificates + "/none: TLS "
                        + "certificates: " + certificates + "/none: no such directory");
        // a directory without ca-cert.pem cannot verify the server
        assertThatThrownBy(() -> RbdClient.connect("nbds://127.0.0.1:1/?tls-certificates=" + certificates,
                options()))
                .isInstanceOf(TlsFailedException.class)
                .hasMessageContaining("ca-cert.pem: no such file");
    }

    @Test
    void failsWhenTheServerDoesNotOfferFixedNewstyle() throws Exception {
        assertTlsFailure(0, (in, out, seen) -> false, "server does not support TLS (no fixed-newstyle handshake)");
    }

    @Test
    void failsWhenStartTlsIsUnsupported() throws Exception {
        assertTlsFailure(3, (in, out, seen) -> {
            reply(out, STARTTLS, ERR_UNSUP, new byte[0]);
            out.flush();
            return true; // and see whether the client goes on with GO in plaintext
        }, "server does not support TLS (STARTTLS: ERR_UNSUP)");
    }

    @Test
    void failsWhenStartTlsIsRefusedByPolicy() throws Exception {
        assertTlsFailure(3, (in, out, seen) -> {
            reply(out, STARTTLS, ERR_POLICY, "no TLS\u001b[2J for you".getBytes(java.nio.charset.StandardCharsets.UTF_8));
            out.flush();
            return true;
        }, "server refused TLS (STARTTLS: ERR_POLICY, no TLS");
    }

    @Test
    void failsWhenTheServerClosesAfterStartTls() throws Exception {
        assertTlsFailure(3, (in, out, seen) -> false, "server closed the connection after STARTTLS", false);
    }

    @Test
    void failsWhenPlaintextFollowsTheAckAtOnce() throws Exception {
        assertTlsFailure(3, (in, out, seen) -> {
            reply(out, STARTTLS, ACK, new byte[0]);
            reply(out, 8, ACK, new byte[0]); // an injected "ACK" to STRUCTURED_REPLY, in plaintext
            out.flush();
            in.transferTo(seen.afterAck);
            return false;
        }, "server sent plaintext after accepting STARTTLS");
    }

    @Test
    void failsWhenTheServerAnswersTheTlsHandshakeInPlaintext() throws Exception {
        assertTlsFailure(3, (in, out, seen) -> {
            reply(out, STARTTLS, ACK, new byte[0]);
            out.flush();
            // the client's first bytes now are its TLS ClientHello; answer them with a plaintext option reply
            byte[] header = new byte[5];
            in.readFully(header);
            seen.afterAck.write(header);
            reply(out, 7, ACK, new byte[0]);
            out.flush();
            in.transferTo(seen.afterAck);
            return false;
        }, "TLS handshake failed");
    }
}
