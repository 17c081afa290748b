package dev.rbd.protocol;

/** Handshake options ({@code NBD_OPT_*}) plus rbd's own extension options. */
public enum NbdOption {
    EXPORT_NAME(1),
    ABORT(2),
    LIST(3),
    PEEK_EXPORT(4),
    STARTTLS(5),
    INFO(6),
    GO(7),
    STRUCTURED_REPLY(8),
    LIST_META_CONTEXT(9),
    SET_META_CONTEXT(10),
    EXTENDED_HEADERS(11),
    /** rbd's session option: fencing and durability information (see {@link RbdSession}). */
    RBD_SESSION(RbdSession.OPTION);

    private final int code;

    NbdOption(int code) {
        this.code = code;
    }

    public int code() {
        return code;
    }

    /** The option for a wire value, or {@code null} when unknown (the server answers {@code ERR_UNSUP}). */
    public static NbdOption fromCode(int code) {
        for (NbdOption o : values()) {
            if (o.code == code) {
                return o;
            }
        }
        return null;
    }

    /** A readable name for logs, also for unknown values. */
    public static String describe(int code) {
        NbdOption o = fromCode(code);
        return o != null ? o.name() : "option " + Integer.toUnsignedString(code);
    }
}
