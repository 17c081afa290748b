package dev.rbd.client.internal;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.handler.codec.DecoderException;
import io.netty.handler.ssl.NotSslRecordException;
import java.security.cert.CertPathBuilderException;
import java.security.cert.CertificateException;
import java.security.cert.CertificateExpiredException;
import javax.net.ssl.SSLHandshakeException;
import org.junit.jupiter.api.Test;

/** What each engine throws for a failed handshake, worded as the one line a user reads. */
class TlsFailuresTest {
    private static SSLHandshakeException handshake(String message, Throwable cause) {
        SSLHandshakeException e = new SSLHandshakeException(message);
        e.initCause(cause);
        return e;
    }

    @Test
    void anUnknownCaIsNotTrusted() {
        assertThat(TlsFailures.describe(new DecoderException(handshake("PKIX path building failed",
                new CertPathBuilderException("unable to find valid certification path to requested target")))))
                .isEqualTo("TLS handshake failed: certificate not trusted (not signed by the CA in ca-cert.pem)");
    }

    @Test
    void anExpiredCertificateSaysExpired() {
        assertThat(TlsFailures.describe(handshake("error:CERTIFICATE_VERIFY_FAILED",
                new CertificateExpiredException("NotAfter: Wed Dec 02 10:00:00 UTC 2026"))))
                .startsWith("TLS handshake failed: certificate expired");
    }

    @Test
    void anotherNameSaysItDoesNotMatch() {
        assertThat(TlsFailures.describe(handshake("x", new CertificateException(
                "No subject alternative DNS name matching disk.example found."))))
                .isEqualTo("TLS handshake failed: the server's name does not match its certificate (No subject "
                        + "alternative DNS name matching disk.example found.)");
    }

    @Test
    void theServersCertificateTextIsMadePrintable() {
        assertThat(TlsFailures.describe(handshake("x", new CertificateException(
                "No subject alternative DNS name matching x found: CN=evil\u001b[2J\nname"))))
                .doesNotContain("\u001b", "\n");
    }

    @Test
    void alertsAreNamed() {
        assertThat(TlsFailures.describe(handshake("Received fatal alert: certificate_required", null)))
                .isEqualTo("TLS handshake failed: the server requires a client certificate (alert "
                        + "certificate_required)");
        assertThat(TlsFailures.describe(handshake("error:10000416:SSL routines:OPENSSL_internal:"
                + "SSLV3_ALERT_CERTIFICATE_UNKNOWN", null)))
                .isEqualTo("TLS handshake failed: the server refused our certificate (alert certificate_unknown)");
    }

    @Test
    void plaintextWhereTlsWasExpectedIsSaid() {
        assertThat(TlsFailures.describe(new NotSslRecordException("not an SSL/TLS record: 0003e889")))
                .isEqualTo("TLS handshake failed: the server did not answer in TLS");
        assertThat(TlsFailures.isTls(new DecoderException(new NotSslRecordException("x")))).isTrue();
        assertThat(TlsFailures.isTls(new java.io.IOException("Connection reset by peer"))).isFalse();
    }
}
