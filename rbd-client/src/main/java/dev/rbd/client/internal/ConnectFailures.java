package dev.rbd.client.internal;

import dev.rbd.client.ConnectFailedException;
import dev.rbd.client.ConnectFailedException.Reason;
import java.net.ConnectException;
import java.net.NoRouteToHostException;
import java.net.SocketTimeoutException;
import java.net.UnknownHostException;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * Turns what the transport threw when a connect failed into a {@link ConnectFailedException}: the one place that
 * knows how the JDK and Netty's native transport word their errors, so callers can go by the reason alone.
 */
public final class ConnectFailures {
    /** Netty's native transport: {@code finishConnect(..) failed with error(-111): Connection refused}. */
    private static final Pattern NATIVE_PREFIX = Pattern.compile("^\\w+\\(\\.\\.\\) failed(?: with error\\(-?\\d+\\))?: ");
    /** The address Netty appends to a connect failure: {@code : /127.0.0.1:1}. */
    private static final Pattern ADDRESS_SUFFIX = Pattern.compile(": [^ ]*/[^ ]*$");

    private ConnectFailures() {
    }

    /** The failure to connect to {@code uri}, classified from the transport's exception. */
    public static ConnectFailedException of(String uri, Throwable cause) {
        Throwable root = root(cause);
        String text = root.getMessage() != null ? root.getMessage() : root.toString();
        if (root instanceof UnknownHostException) {
            return new ConnectFailedException(uri, Reason.UNKNOWN_HOST, "unknown host"
                    + (root.getMessage() != null ? " '" + root.getMessage() + "'" : ""), cause);
        }
        if (root instanceof io.netty.channel.ConnectTimeoutException || root instanceof SocketTimeoutException) {
            return new ConnectFailedException(uri, Reason.TIMED_OUT, "connection timed out", cause);
        }
        if (root instanceof ConnectException && (text.contains("error(-111)") || text.contains("refused"))) {
            return new ConnectFailedException(uri, Reason.REFUSED, "connection refused", cause);
        }
        String words = ADDRESS_SUFFIX.matcher(NATIVE_PREFIX.matcher(text).replaceFirst("")).replaceFirst("");
        words = words.isEmpty() ? text : Character.toLowerCase(words.charAt(0)) + words.substring(1);
        String lower = words.toLowerCase(Locale.ROOT);
        boolean unreachable = root instanceof NoRouteToHostException || lower.contains("no route to host")
                || lower.contains("unreachable") || lower.contains("no such file or directory");
        return new ConnectFailedException(uri, unreachable ? Reason.UNREACHABLE : Reason.OTHER, words, cause);
    }

    static Throwable root(Throwable t) {
        Throwable c = t;
        while (c.getCause() != null && c.getCause() != c) {
            c = c.getCause();
        }
        return c;
    }

    static String rootMessage(Throwable t) {
        Throwable c = root(t);
        return c.getMessage() != null ? c.getMessage() : c.toString();
    }
}
