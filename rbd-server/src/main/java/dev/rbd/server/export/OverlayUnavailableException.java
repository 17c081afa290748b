package dev.rbd.server.export;

/**
 * A client's persistent overlay cannot be opened: its golden image changed, it is damaged, in use by another process,
 * or cannot be made. {@link #getMessage()} is for the client (it reveals no path), {@link #detail()} for the server's
 * log.
 */
public final class OverlayUnavailableException extends Exception {
    private final String detail;

    public OverlayUnavailableException(String message, String detail) {
        super(message, null, false, false);
        this.detail = detail;
    }

    public String detail() {
        return detail;
    }
}
