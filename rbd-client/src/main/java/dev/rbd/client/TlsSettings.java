package dev.rbd.client;

import java.nio.file.Path;

/**
 * How a connection uses TLS, in libnbd's terms (its URI query parameters {@code tls-certificates},
 * {@code tls-verify-peer} and {@code tls-hostname}).
 *
 * @param certificates the directory with {@code ca-cert.pem} (and {@code client-cert.pem} with
 *                     {@code client-key.pem} to present a client certificate), or {@code null} for libnbd's default
 *                     directories: {@code $HOME/.pki/libnbd}, then {@code $HOME/.config/pki/libnbd}
 *                     ({@code /etc/pki/libnbd} for root)
 * @param verifyPeer   verify the server's certificate against the CA and its name (default true); false trusts any
 *                     server, for testing only
 * @param hostname     the name the server's certificate must carry, or {@code null} for the URI's host; over a Unix
 *                     socket without it the certificate is verified but no name is checked, as libnbd does
 */
public record TlsSettings(Path certificates, boolean verifyPeer, String hostname) {
    public TlsSettings {
        if (hostname != null && hostname.isEmpty()) {
            throw new IllegalArgumentException("hostname: empty (expected: a name, or null for the URI's host)");
        }
    }

    /** Certificates from {@code dir}, the server verified. */
    public static TlsSettings of(Path dir) {
        return new TlsSettings(dir, true, null);
    }

    /** libnbd's default directories, the server verified. */
    public static TlsSettings defaults() {
        return new TlsSettings(null, true, null);
    }
}
