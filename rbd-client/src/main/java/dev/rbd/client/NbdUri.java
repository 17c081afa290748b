package dev.rbd.client;

import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Locale;

/**
 * A standard NBD URI: {@code nbd://host[:port]/export} or {@code nbd+unix:///export?socket=PATH}, and their TLS forms
 * {@code nbds://} and {@code nbds+unix://}. The export name is the path without its leading slash, percent-decoded;
 * an empty name asks for the server's default export.
 *
 * <p>The TLS forms take libnbd's query parameters: {@code tls-certificates=DIR}, {@code tls-verify-peer=false} and
 * {@code tls-hostname=NAME} (see {@link TlsSettings}). Other query parameters are ignored, as libnbd ignores those it
 * does not know.
 *
 * @param host   TCP host, or {@code null} for a Unix socket
 * @param port   TCP port (10809 when absent)
 * @param export export name
 * @param socket Unix socket path, or {@code null} for TCP
 * @param tls    the TLS settings of an {@code nbds} URI, or {@code null} for plaintext
 */
public record NbdUri(String host, int port, String export, Path socket, TlsSettings tls) {
    public static final int DEFAULT_PORT = 10809;
    static final String TLS_CERTIFICATES = "tls-certificates";
    static final String TLS_VERIFY_PEER = "tls-verify-peer";
    static final String TLS_HOSTNAME = "tls-hostname";

    /** A plaintext URI. */
    public NbdUri(String host, int port, String export, Path socket) {
        this(host, port, export, socket, null);
    }

    /** Parses a URI; throws {@link IllegalArgumentException} with a message that names the problem. */
    public static NbdUri parse(String text) {
        URI u;
        try {
            u = new URI(text);
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException("malformed NBD URI '" + text + "': " + e.getReason());
        }
        String scheme = u.getScheme();
        if (scheme == null) {
            throw new IllegalArgumentException("malformed NBD URI '" + text
                    + "' (expected nbd://host[:port]/export or nbd+unix:///export?socket=PATH)");
        }
        String path = u.getRawPath() == null ? "" : u.getRawPath();
        String export = URLDecoder.decode(path.startsWith("/") ? path.substring(1) : path, StandardCharsets.UTF_8);
        Query q = Query.parse(text, u.getRawQuery());
        switch (scheme) {
            case "nbd", "nbds" -> {
                if (u.getHost() == null) {
                    // java.net.URI leaves the host out when the authority does not parse, e.g. a port that is
                    // not a number
                    String authority = u.getRawAuthority();
                    throw new IllegalArgumentException("NBD URI '" + text + "' " + (authority == null
                            || authority.isEmpty() ? "has no host" : "has a malformed host or port '" + authority
                            + "' (expected host[:port], port a number)"));
                }
                String host = u.getHost();
                if (host.startsWith("[") && host.endsWith("]")) {
                    host = host.substring(1, host.length() - 1);
                }
                return new NbdUri(host, u.getPort() < 0 ? DEFAULT_PORT : u.getPort(), export, null,
                        scheme.equals("nbds") ? q.tls() : null);
            }
            case "nbd+unix", "nbds+unix" -> {
                if (q.socket == null || q.socket.isEmpty()) {
                    throw new IllegalArgumentException("NBD URI '" + text + "' needs ?socket=PATH");
                }
                return new NbdUri(null, 0, export, Path.of(q.socket), scheme.equals("nbds+unix") ? q.tls() : null);
            }
            default -> throw new IllegalArgumentException("unsupported scheme '" + scheme + "' in '" + text
                    + "' (expected nbd, nbds, nbd+unix or nbds+unix)");
        }
    }

    /** The query parameters rbd reads; the rest are ignored. */
    private static final class Query {
        String socket;
        Path certificates;
        boolean verifyPeer = true;
        String hostname;

        static Query parse(String text, String raw) {
            Query q = new Query();
            if (raw == null) {
                return q;
            }
            for (String kv : raw.split("[&;]")) {
                int eq = kv.indexOf('=');
                String name = URLDecoder.decode(eq < 0 ? kv : kv.substring(0, eq), StandardCharsets.UTF_8);
                String value = eq < 0 ? "" : URLDecoder.decode(kv.substring(eq + 1), StandardCharsets.UTF_8);
                switch (name) {
                    case "socket" -> q.socket = value;
                    case TLS_CERTIFICATES -> {
                        if (value.isEmpty()) {
                            throw new IllegalArgumentException("NBD URI '" + text + "': " + TLS_CERTIFICATES
                                    + "= is empty (expected a directory)");
                        }
                        q.certificates = Path.of(value);
                    }
                    case TLS_VERIFY_PEER -> q.verifyPeer = bool(text, value);
                    case TLS_HOSTNAME -> {
                        if (value.isEmpty()) {
                            throw new IllegalArgumentException("NBD URI '" + text + "': " + TLS_HOSTNAME
                                    + "= is empty (expected a host name)");
                        }
                        q.hostname = value;
                    }
                    default -> {
                        // libnbd ignores query parameters it does not know (the NBD URI standard reserves x-* for
                        // experiments), so the URIs other tools accept work here too
                    }
                }
            }
            return q;
        }

        TlsSettings tls() {
            return new TlsSettings(certificates, verifyPeer, hostname);
        }

        private static boolean bool(String text, String value) {
            switch (value.toLowerCase(Locale.ROOT)) {
                case "true", "1", "yes", "on":
                    return true;
                case "false", "0", "no", "off":
                    return false;
                default:
                    throw new IllegalArgumentException("NBD URI '" + text + "': " + TLS_VERIFY_PEER + "=" + value
                            + " (expected: true or false)");
            }
        }
    }

    public boolean isUnix() {
        return socket != null;
    }

    /** Whether the URI asks for TLS ({@code nbds} or {@code nbds+unix}). */
    public boolean isTls() {
        return tls != null;
    }

    /** The URI again, in a form {@link #parse} reads back to an equal one. */
    @Override
    public String toString() {
        StringBuilder b = new StringBuilder(isTls() ? "nbds" : "nbd");
        if (isUnix()) {
            b.append("+unix:///").append(encode(export)).append("?socket=").append(encode(socket.toString()));
        } else {
            b.append("://").append(host.contains(":") ? "[" + host + "]" : host).append(':').append(port)
                    .append('/').append(encode(export));
        }
        if (isTls()) {
            char sep = isUnix() ? '&' : '?';
            if (tls.certificates() != null) {
                b.append(sep).append(TLS_CERTIFICATES).append('=').append(encode(tls.certificates().toString()));
                sep = '&';
            }
            if (!tls.verifyPeer()) {
                b.append(sep).append(TLS_VERIFY_PEER).append("=false");
                sep = '&';
            }
            if (tls.hostname() != null) {
                b.append(sep).append(TLS_HOSTNAME).append('=').append(encode(tls.hostname()));
            }
        }
        return b.toString();
    }

    /** Percent-encodes all but RFC 3986's unreserved characters and '/', so names with spaces, '&' or '+' survive. */
    private static String encode(String s) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte c : s.getBytes(StandardCharsets.UTF_8)) {
            if (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || "-._~/".indexOf(c) >= 0) {
                out.write(c);
            } else {
                out.writeBytes(String.format("%%%02X", c & 0xff).getBytes(StandardCharsets.US_ASCII));
            }
        }
        return out.toString(StandardCharsets.US_ASCII);
    }
}
