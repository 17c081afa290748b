package dev.rbd.protocol.tls;

import io.netty.handler.ssl.OpenSsl;
import io.netty.handler.ssl.SslProvider;
import java.util.Locale;

/**
 * Which TLS engine runs the handshake and the record layer: BoringSSL through netty-tcnative where its native
 * library loads, else the JDK's. The system property {@code rbd.tls.provider} ({@code openssl} or {@code jdk})
 * overrides the choice, for comparisons and for a machine where the native library misbehaves.
 */
public final class TlsProvider {
    public static final String PROPERTY = "rbd.tls.provider";

    private TlsProvider() {
    }

    /** The engine to use. */
    public static SslProvider choose() {
        String asked = System.getProperty(PROPERTY, "").trim().toLowerCase(Locale.ROOT);
        switch (asked) {
            case "jdk":
                return SslProvider.JDK;
            case "openssl":
                if (!OpenSsl.isAvailable()) {
                    throw new IllegalStateException("-D" + PROPERTY + "=openssl, but the OpenSSL engine is unavailable: "
                            + OpenSsl.unavailabilityCause());
                }
                return SslProvider.OPENSSL;
            case "":
                return OpenSsl.isAvailable() ? SslProvider.OPENSSL : SslProvider.JDK;
            default:
                throw new IllegalStateException("-D" + PROPERTY + "=" + asked + " (expected: openssl or jdk)");
        }
    }

    /** The engine in words, for the server's start-up line. */
    public static String describe(SslProvider p) {
        return p == SslProvider.JDK ? "JDK" : OpenSsl.versionString();
    }
}
