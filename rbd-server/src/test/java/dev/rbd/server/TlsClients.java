package dev.rbd.server;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rbd.protocol.NbdOption;
import dev.rbd.protocol.NbdReplyType;
import dev.rbd.protocol.tls.TlsContexts;
import dev.rbd.protocol.tls.TlsDirectory;
import io.netty.handler.ssl.JdkSslContext;
import io.netty.handler.ssl.SslProvider;
import java.io.IOException;
import java.nio.file.Path;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;

/** The JDK's TLS layered over a {@link RawNbdClient} after STARTTLS, as an NBD client does it. */
public final class TlsClients {
    private TlsClients() {
    }

    /** STARTTLS, which must be answered with ACK, then the TLS handshake trusting {@code dir}'s CA. */
    public static RawNbdClient startTls(RawNbdClient plain, Path dir) throws IOException {
        RawNbdClient.OptReply r = plain.option(NbdOption.STARTTLS.code(), new byte[0]).get(0);
        assertThat(r.type()).as("STARTTLS reply").isEqualTo(NbdReplyType.ACK.code());
        return handshake(plain, dir);
    }

    /**
     * The TLS handshake over the client's socket, verifying the server's certificate against {@code dir}'s
     * {@code ca-cert.pem} and the name localhost, presenting {@code dir}'s client certificate when it has one.
     */
    public static RawNbdClient handshake(RawNbdClient plain, Path dir) throws IOException {
        SSLContext context = ((JdkSslContext) TlsContexts.client(TlsDirectory.client(dir, true), true,
                SslProvider.JDK)).context();
        SSLSocket s = (SSLSocket) context.getSocketFactory().createSocket(plain.socket, "localhost",
                plain.socket.getPort(), true);
        s.setUseClientMode(true);
        SSLParameters p = s.getSSLParameters();
        p.setEndpointIdentificationAlgorithm("HTTPS");
        s.setSSLParameters(p);
        s.startHandshake();
        return new RawNbdClient(s);
    }
}
