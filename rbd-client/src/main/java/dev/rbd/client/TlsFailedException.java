package dev.rbd.client;

/**
 * TLS failed: the server does not offer it or refused STARTTLS, the handshake failed (a certificate not trusted,
 * expired, or for another name; a client certificate the server wanted and did not get), or the server requires TLS
 * and the URI did not ask for it. The client never goes on in plaintext after asking for TLS; {@link #detail()} says
 * what went wrong in one line.
 */
public final class TlsFailedException extends ConnectFailedException {
    private static final long serialVersionUID = 1L;

    public TlsFailedException(String uri, String detail, Throwable cause) {
        super(uri, Reason.TLS, detail, cause);
    }
}
