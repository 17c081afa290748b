package dev.rbd.server.export;

import dev.rbd.protocol.tls.TlsContexts;
import dev.rbd.protocol.tls.TlsDirectory;
import dev.rbd.protocol.tls.TlsProvider;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslProvider;
import java.io.IOException;

/**
 * The server's TLS at run time: the mode and the one {@link SslContext} every connection's handshake uses, built
 * when the server starts so a bad certificate directory fails start-up, not the first client.
 *
 * @param mode       off, on or require
 * @param context    the server context, or {@code null} when off
 * @param verifyPeer clients must present a certificate signed by the CA
 * @param engine     the TLS engine in words, for the start-up line
 */
public record ServerTls(TlsConfig.Mode mode, SslContext context, boolean verifyPeer, String engine) {
    public static final ServerTls OFF = new ServerTls(TlsConfig.Mode.OFF, null, false, "none");

    /** Reads the certificate directory and builds the context; every failure is one line naming the file. */
    public static ServerTls load(TlsConfig config) throws IOException {
        if (!config.enabled()) {
            return OFF;
        }
        TlsDirectory dir = TlsDirectory.server(config.certificates(), config.verifyPeer());
        SslProvider provider = TlsProvider.choose();
        return new ServerTls(config.mode(), TlsContexts.server(dir, config.verifyPeer(), provider),
                config.verifyPeer(), TlsProvider.describe(provider));
    }

    public boolean enabled() {
        return mode != TlsConfig.Mode.OFF;
    }

    public boolean required() {
        return mode == TlsConfig.Mode.REQUIRE;
    }

    /** For the start-up line: {@code off}, or the mode, the engine and whether client certificates are needed. */
    public String describe() {
        if (!enabled()) {
            return "off";
        }
        return mode.name().toLowerCase(java.util.Locale.ROOT) + " (" + engine + (verifyPeer
                ? ", client certificates required)" : ")");
    }
}
