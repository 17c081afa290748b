package dev.rbd.client;

/**
 * No connection to the server could be made, or negotiation did not finish in time: {@link #reason()} says which,
 * {@link #detail()} says it in words ("connection refused", "no route to host").
 */
public class ConnectFailedException extends RbdException {
    private static final long serialVersionUID = 1L;

    /** Why connecting failed, as far as callers need to tell the cases apart. */
    public enum Reason {
        /** Nothing listens at the address (ECONNREFUSED). */
        REFUSED,
        /** No route to the host or network, or no socket file at the path. */
        UNREACHABLE,
        /** Connecting or negotiating took longer than the connect timeout. */
        TIMED_OUT,
        /** The host name does not resolve. */
        UNKNOWN_HOST,
        /**
         * TLS was asked for and could not be had, or the server requires it and it was not asked for: see
         * {@link TlsFailedException}. Never retried, since trying again gets the same answer.
         */
        TLS,
        /** Anything else the transport reported. */
        OTHER
    }

    private final String uri;
    private final Reason reason;
    private final String detail;

    public ConnectFailedException(String uri, Reason reason, String detail, Throwable cause) {
        this("cannot connect to " + uri + ": " + detail, uri, reason, detail, cause);
    }

    public ConnectFailedException(String message, String uri, Reason reason, String detail, Throwable cause) {
        super(message, null, cause);
        this.uri = uri;
        this.reason = reason;
        this.detail = detail;
    }

    /** The URI that could not be reached, as the caller gave it. */
    public String uri() {
        return uri;
    }

    public Reason reason() {
        return reason;
    }

    /** The reason in lower-case words, without the URI. */
    public String detail() {
        return detail;
    }
}
