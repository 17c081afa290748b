package dev.rbd.cli;

import dev.rbd.client.NbdErrorException;
import dev.rbd.client.RbdException;
import java.net.ConnectException;
import java.net.UnknownHostException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.regex.Pattern;

/** Turns what made a command fail into the one line it prints: what went wrong, in the user's terms. */
final class Failures {
    private static final String CANNOT_CONNECT = "cannot connect to ";
    /** Netty's native transport: {@code finishConnect(..) failed with error(-111): Connection refused}. */
    private static final Pattern NATIVE_PREFIX = Pattern.compile("^\\w+\\(\\.\\.\\) failed(?: with error\\(-?\\d+\\))?: ");
    /** The address Netty appends to a connect failure: {@code : /127.0.0.1:1}. */
    private static final Pattern ADDRESS_SUFFIX = Pattern.compile(": [^ ]*/[^ ]*$");

    private Failures() {
    }

    /** The exception that says what happened, below the wrappers futures and executors add. */
    static Throwable unwrap(Throwable t) {
        while ((t instanceof CompletionException || t instanceof ExecutionException) && t.getCause() != null) {
            t = t.getCause();
        }
        return t;
    }

    /** One line, without the command's name, for any failure of a command. */
    static String describe(Throwable failure) {
        Throwable t = unwrap(failure);
        String message = t.getMessage() != null ? t.getMessage() : t.toString();
        if (t instanceof NbdErrorException e) {
            // the server's refusal of a request: keep the client's words, which name the request and the error
            return e.error() == null || message.contains(e.error().name()) ? message
                    : message + " (" + e.error().name() + ")";
        }
        if (t instanceof RbdException && message.startsWith(CANNOT_CONNECT)) {
            int uriEnd = message.indexOf(": ", CANNOT_CONNECT.length());
            if (uriEnd > 0) {
                return message.substring(0, uriEnd) + ": " + connectReason(root(t), message.substring(uriEnd + 2));
            }
        }
        if (t instanceof NoSuchFileException e) {
            return "no such file: " + e.getFile();
        }
        if (t instanceof AccessDeniedException e) {
            return "permission denied: " + e.getFile();
        }
        if (t instanceof FileSystemException e && e.getFile() != null) {
            return e.getFile() + ": " + (e.getReason() != null ? e.getReason() : message);
        }
        if (message.equals(ReadCommand.BROKEN_PIPE)) {
            return "the output was closed before everything was written (broken pipe)";
        }
        return message;
    }

    /** Why a connection could not be made: "connection refused" rather than the transport's errno text. */
    private static String connectReason(Throwable root, String fallback) {
        if (root instanceof UnknownHostException) {
            return "unknown host" + (root.getMessage() != null ? " '" + root.getMessage() + "'" : "");
        }
        String text = root.getMessage() != null ? root.getMessage() : fallback;
        if (root instanceof ConnectException && (text.contains("error(-111)") || text.contains("refused"))) {
            return "connection refused";
        }
        if (root.getClass().getSimpleName().equals("ConnectTimeoutException")) {
            return "connection timed out";
        }
        String reason = ADDRESS_SUFFIX.matcher(NATIVE_PREFIX.matcher(text).replaceFirst("")).replaceFirst("");
        return reason.isEmpty() ? fallback : Character.toLowerCase(reason.charAt(0)) + reason.substring(1);
    }

    private static Throwable root(Throwable t) {
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        return t;
    }
}
