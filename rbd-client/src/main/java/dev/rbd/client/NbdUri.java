package dev.rbd.client;

import java.net.URI;
import java.net.URISyntaxException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * A standard NBD URI: {@code nbd://host[:port]/export} or {@code nbd+unix:///export?socket=PATH}. The export name is
 * the path without its leading slash, percent-decoded; an empty name asks for the server's default export.
 *
 * @param host   TCP host, or {@code null} for a Unix socket
 * @param port   TCP port (10809 when absent)
 * @param export export name
 * @param socket Unix socket path, or {@code null} for TCP
 */
public record NbdUri(String host, int port, String export, Path socket) {
    public static final int DEFAULT_PORT = 10809;

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
        if (scheme.startsWith("nbds")) {
            throw new IllegalArgumentException("'" + scheme + "://' needs TLS, which rbd does not support yet");
        }
        String path = u.getRawPath() == null ? "" : u.getRawPath();
        String export = URLDecoder.decode(path.startsWith("/") ? path.substring(1) : path, StandardCharsets.UTF_8);
        switch (scheme) {
            case "nbd" -> {
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
                return new NbdUri(host, u.getPort() < 0 ? DEFAULT_PORT : u.getPort(), export, null);
            }
            case "nbd+unix" -> {
                String socket = null;
                String query = u.getRawQuery();
                if (query != null) {
                    for (String kv : query.split("&")) {
                        if (kv.startsWith("socket=")) {
                            socket = URLDecoder.decode(kv.substring(7), StandardCharsets.UTF_8);
                        }
                    }
                }
                if (socket == null || socket.isEmpty()) {
                    throw new IllegalArgumentException("NBD URI '" + text + "' needs ?socket=PATH");
                }
                return new NbdUri(null, 0, export, Path.of(socket));
            }
            default -> throw new IllegalArgumentException("unsupported scheme '" + scheme + "' in '" + text
                    + "' (expected nbd or nbd+unix)");
        }
    }

    public boolean isUnix() {
        return socket != null;
    }

    @Override
    public String toString() {
        return isUnix() ? "nbd+unix:///" + export + "?socket=" + socket
                : "nbd://" + (host.contains(":") ? "[" + host + "]" : host) + ":" + port + "/" + export;
    }
}
