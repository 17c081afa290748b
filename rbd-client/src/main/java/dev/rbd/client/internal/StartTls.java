package dev.rbd.client.internal;

import dev.rbd.client.ClientOptions;
import dev.rbd.client.NbdUri;
import dev.rbd.client.TlsFailedException;
import dev.rbd.client.TlsSettings;
import dev.rbd.protocol.tls.TlsContexts;
import dev.rbd.protocol.tls.TlsDirectory;
import dev.rbd.protocol.tls.TlsProvider;
import io.netty.buffer.ByteBufAllocator;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * TLS for one client's connections: the context, made once from the certificate directory (so every reconnect uses
 * the same certificates), and the name the server's certificate must carry.
 */
public final class StartTls {
    private final SslContext context;
    /** The name to check, or {@code null} to check none (a Unix socket without {@code tls-hostname}). */
    private final String name;
    private final int port;
    private final boolean certificate;

    private StartTls(SslContext context, String name, int port, boolean certificate) {
        this.context = context;
        this.name = name;
        this.port = port;
        this.certificate = certificate;
    }

    /**
     * TLS as the URI and the options ask for it, or {@code null} for plaintext; throws {@link TlsFailedException}
     * when the certificates cannot be read.
     */
    public static StartTls of(NbdUri uri, ClientOptions options) {
        TlsSettings s = uri.tls() != null ? uri.tls() : options.tls();
        if (s == null) {
            return null;
        }
        if (s.certificates() == null && options.tls() != null && options.tls().certificates() != null) {
            s = new TlsSettings(options.tls().certificates(), s.verifyPeer(), s.hostname());
        }
        String name = s.hostname() != null ? s.hostname() : uri.host();
        try {
            TlsDirectory dir = directory(s);
            return new StartTls(TlsContexts.client(dir, s.verifyPeer(), name != null, TlsProvider.choose()), name,
                    uri.isUnix() ? NbdUri.DEFAULT_PORT : uri.port(), dir.hasCertificate());
        } catch (IOException e) {
            throw new TlsFailedException(uri.toString(), "TLS certificates: " + e.getMessage(), e);
        } catch (IllegalStateException e) {
            // -Drbd.tls.provider names an engine that is not there
            throw new TlsFailedException(uri.toString(), "TLS: " + e.getMessage(), e);
        }
    }

    private static TlsDirectory directory(TlsSettings s) throws IOException {
        if (s.certificates() != null) {
            return TlsDirectory.client(s.certificates(), s.verifyPeer());
        }
        List<Path> defaults = defaultDirectories();
        for (Path d : defaults) {
            if (Files.isReadable(d.resolve(TlsDirectory.CA_CERT))) {
                return TlsDirectory.client(d, s.verifyPeer());
            }
        }
        if (!s.verifyPeer()) {
            return new TlsDirectory(Path.of("."), List.of(), List.of(), null);
        }
        // libnbd falls back to the system's CAs here; NBD servers' certificates come from a private CA, so saying
        // where the CA was looked for helps more than a handshake failing with "not trusted"
        throw new IOException("no tls-certificates=DIR in the URI and no " + TlsDirectory.CA_CERT + " in "
                + String.join(" or ", defaults.stream().map(Path::toString).toList()));
    }

    /** libnbd's default certificate directories, in the order it tries them. */
    static List<Path> defaultDirectories() {
        if ("root".equals(System.getProperty("user.name"))) {
            return List.of(Path.of("/etc/pki/libnbd"));
        }
        String home = System.getProperty("user.home");
        return List.of(Path.of(home, ".pki", "libnbd"), Path.of(home, ".config", "pki", "libnbd"));
    }

    /** Whether this end presents a client certificate. */
    boolean presentsCertificate() {
        return certificate;
    }

    /** A client-mode handler for one connection, checking the server's name where there is one. */
    SslHandler handler(ByteBufAllocator alloc) {
        return name != null ? context.newHandler(alloc, name, port) : context.newHandler(alloc);
    }
}
