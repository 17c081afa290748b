package dev.rbd.server.export;

import java.nio.file.Path;

/**
 * Whether and how the server offers TLS (NBD's STARTTLS), as the options {@code --tls}, {@code --tls-certificates}
 * and {@code --tls-verify-peer} give it.
 *
 * @param mode         off, on (plaintext and TLS clients) or require (TLS clients only)
 * @param certificates the directory with {@code server-cert.pem}, {@code server-key.pem} and {@code ca-cert.pem}
 * @param verifyPeer   clients must present a certificate signed by the directory's CA
 */
public record TlsConfig(Mode mode, Path certificates, boolean verifyPeer) {
    /** No TLS: STARTTLS gets {@code ERR_UNSUP}. */
    public static final TlsConfig OFF = new TlsConfig(Mode.OFF, null, false);

    /** The values of {@code --tls}. */
    public enum Mode {
        /** STARTTLS is not offered. */
        OFF,
        /** Plaintext clients are served; clients that send STARTTLS are encrypted. */
        ON,
        /** Every option but STARTTLS and ABORT gets {@code ERR_TLS_REQD} until TLS is up. */
        REQUIRE
    }

    public TlsConfig {
        if (mode == null) {
            throw new IllegalArgumentException("mode: null");
        }
        if (mode != Mode.OFF && certificates == null) {
            throw new IllegalArgumentException("TLS " + mode + " needs a certificate directory");
        }
        if (mode == Mode.OFF && verifyPeer) {
            throw new IllegalArgumentException("verifying peers needs TLS");
        }
    }

    public boolean enabled() {
        return mode != Mode.OFF;
    }
}
