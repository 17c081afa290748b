package dev.rbd.client.internal;

import dev.rbd.protocol.NbdString;
import io.netty.handler.ssl.NotSslRecordException;
import java.security.cert.CertPathBuilderException;
import java.security.cert.CertPathValidatorException;
import java.security.cert.CertificateExpiredException;
import java.security.cert.CertificateNotYetValidException;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.net.ssl.SSLException;

/**
 * Words a failed TLS handshake for one line: what the JDK's and OpenSSL's engines throw differs, and neither says
 * "certificate not trusted" in so many words.
 */
final class TlsFailures {
    private static final Pattern ALERT = Pattern.compile("(?i)received fatal alert: (\\w+)|SSLV3_ALERT_(\\w+)"
            + "|TLSV1_ALERT_(\\w+)|TLSV13_ALERT_(\\w+)");

    private TlsFailures() {
    }

    /** Whether {@code t} or one of its causes is a TLS failure. */
    static boolean isTls(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
            if (c instanceof SSLException || c instanceof NotSslRecordException) {
                return true;
            }
        }
        return false;
    }

    /** "TLS handshake failed: " and the reason in words, from whatever the engine threw. */
    static String describe(Throwable t) {
        // the engines quote the server's certificate (its names, its subject): text the server chose
        return "TLS handshake failed: " + NbdString.printable(reason(t));
    }

    private static String reason(Throwable t) {
        String all = "";
        for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
            if (c instanceof CertificateExpiredException || c instanceof CertPathValidatorException v
                    && v.getReason() == CertPathValidatorException.BasicReason.EXPIRED) {
                return "certificate expired (" + message(c) + ")";
            }
            if (c instanceof CertificateNotYetValidException) {
                return "certificate not yet valid (" + message(c) + ")";
            }
            if (c instanceof NotSslRecordException) {
                return "the server did not answer in TLS";
            }
            all += " " + message(c);
        }
        String lower = all.toLowerCase(Locale.ROOT);
        if (lower.contains("no subject alternative") || lower.contains("no name matching")) {
            return "the server's name does not match its certificate (" + firstMatching(t, "no ") + ")";
        }
        if (lower.contains("unable to find valid certification path") || lower.contains("pkix path")
                || hasCause(t, CertPathBuilderException.class)) {
            return "certificate not trusted (not signed by the CA in ca-cert.pem)";
        }
        if (lower.contains("expired")) {
            return "certificate expired";
        }
        Matcher m = ALERT.matcher(all);
        if (m.find()) {
            String alert = (m.group(1) != null ? m.group(1) : m.group(2) != null ? m.group(2)
                    : m.group(3) != null ? m.group(3) : m.group(4)).toLowerCase(Locale.ROOT);
            return switch (alert) {
                case "certificate_required" -> "the server requires a client certificate (alert certificate_required)";
                case "bad_certificate", "unknown_ca", "certificate_unknown", "access_denied" ->
                        "the server refused our certificate (alert " + alert + ")";
                default -> "the server sent alert " + alert;
            };
        }
        return message(root(t));
    }

    private static boolean hasCause(Throwable t, Class<?> type) {
        for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
            if (type.isInstance(c)) {
                return true;
            }
        }
        return false;
    }

    /** The first message in the chain that contains {@code part}, case-insensitively. */
    private static String firstMatching(Throwable t, String part) {
        for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
            String m = message(c);
            int at = m.toLowerCase(Locale.ROOT).indexOf(part);
            if (at >= 0) {
                return m.substring(at);
            }
        }
        return message(root(t));
    }

    private static Throwable root(Throwable t) {
        Throwable c = t;
        while (c.getCause() != null && c.getCause() != c) {
            c = c.getCause();
        }
        return c;
    }

    private static String message(Throwable t) {
        return t.getMessage() != null ? t.getMessage() : t.getClass().getSimpleName();
    }
}
