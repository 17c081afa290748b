package dev.rbd.cli;

import dev.rbd.client.ConnectFailedException;
import dev.rbd.client.NbdErrorException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;

/** Turns what made a command fail into the one line it prints: what went wrong, in the user's terms. */
final class Failures {
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
        if (t instanceof ConnectFailedException) {
            // the client words the reason ("connection refused"), not the transport's errno text: its line is ours
            return message;
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
}
