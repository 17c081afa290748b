package dev.rbd.client;

/**
 * TLS failed: the server does not offer it or refused STARTTLS, the handshake failed (a certificate not trusted,
 * expired, or for another name; a client certificate the server wanted and did not get), or the server requires TLS
 * and the URI did not ask for it. The client never goes on in plaintext after asking for TLS; {@link #detail()} says
 * what went wrong in one line.
 */
public final class TlsFailedException extends ConnectFailedException {
    private static final long serialVersionUID = 1L;

    private final boolean refused;

    /** A refusal: the server or a certificate said no. */
    public TlsFailedException(String uri, String detail, Throwable cause) {
        this(uri, detail, true, cause);
    }

    /**
     * @param refused whether the server or a certificate said no, or the connection just ended during STARTTLS or the
     *                handshake (which a server that is going down does too)
     */
    public TlsFailedException(String uri, String detail, boolean refused, Throwable cause) {
        super(uri, Reason.TLS, detail, cause);
        this.refused = refused;
    }

    /**
     * Whether the server or a certificate said no, so that asking again gets the same answer: a reconnect then gives
     * up at once. When the connection only ended during TLS, reconnects go on trying (always with TLS) until the
     * reconnect wait runs out.
     */
    public boolean refused() {
        return refused;
    }
}
