package dev.rbd.protocol.tls;

import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import io.netty.handler.ssl.util.InsecureTrustManagerFactory;
import java.io.IOException;
import javax.net.ssl.SSLException;

/** The TLS contexts rbd's two ends use: TLS 1.2 or 1.3 only, certificates from a {@link TlsDirectory}. */
public final class TlsContexts {
    /** What the NBD spec asks for: TLS 1.2 or later. */
    static final String[] PROTOCOLS = {"TLSv1.3", "TLSv1.2"};

    private TlsContexts() {
    }

    /**
     * A server context: presents the directory's server certificate; with {@code verifyPeer}, requires a client
     * certificate signed by the directory's CA.
     */
    public static SslContext server(TlsDirectory dir, boolean verifyPeer, SslProvider provider) throws IOException {
        SslContextBuilder b = SslContextBuilder.forServer(dir.key(), dir.chain()).sslProvider(provider)
                .protocols(PROTOCOLS);
        if (verifyPeer) {
            if (dir.ca().isEmpty()) {
                throw new IOException(dir.dir().resolve(TlsDirectory.CA_CERT) + ": needed to verify client "
                        + "certificates");
            }
            b.trustManager(dir.ca()).clientAuth(ClientAuth.REQUIRE);
        }
        return build(b, dir);
    }

    /**
     * A client context: verifies the server's certificate against the directory's CA (and its name, where the
     * handler is made with the server's host) unless {@code verifyPeer} is false; presents the directory's client
     * certificate when it has one.
     */
    public static SslContext client(TlsDirectory dir, boolean verifyPeer, SslProvider provider) throws IOException {
        return client(dir, verifyPeer, true, provider);
    }

    /**
     * As {@link #client(TlsDirectory, boolean, SslProvider)}; with {@code checkName} false the server's certificate is
     * verified against the CA but its name is not checked: for a Unix socket, where there is no host name to check
     * (libnbd does the same for {@code nbds+unix} without {@code tls-hostname}).
     */
    public static SslContext client(TlsDirectory dir, boolean verifyPeer, boolean checkName, SslProvider provider)
            throws IOException {
        SslContextBuilder b = SslContextBuilder.forClient().sslProvider(provider).protocols(PROTOCOLS);
        if (verifyPeer) {
            if (dir.ca().isEmpty()) {
                throw new IOException(dir.dir().resolve(TlsDirectory.CA_CERT) + ": needed to verify the server");
            }
            b.trustManager(dir.ca()).endpointIdentificationAlgorithm(checkName ? "HTTPS" : null);
        } else {
            b.trustManager(InsecureTrustManagerFactory.INSTANCE).endpointIdentificationAlgorithm(null);
        }
        if (dir.hasCertificate()) {
            b.keyManager(dir.key(), dir.chain());
        }
        return build(b, dir);
    }

    private static SslContext build(SslContextBuilder b, TlsDirectory dir) throws IOException {
        try {
            return b.build();
        } catch (SSLException | IllegalArgumentException e) {
            throw new IOException(dir.dir() + ": " + e.getMessage(), e);
        }
    }
}
