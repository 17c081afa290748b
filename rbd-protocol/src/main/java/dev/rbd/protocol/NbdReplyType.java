package dev.rbd.protocol;

/** Option reply types ({@code NBD_REP_*}). Error types have bit 31 set. */
public enum NbdReplyType {
    ACK(1),
    SERVER(2),
    INFO(3),
    META_CONTEXT(4),
    /** rbd's reply to its session option (see {@link RbdSession}). */
    RBD_SESSION(RbdSession.REPLY),
    ERR_UNSUP(0x80000001),
    ERR_POLICY(0x80000002),
    ERR_INVALID(0x80000003),
    ERR_PLATFORM(0x80000004),
    ERR_TLS_REQD(0x80000005),
    ERR_UNKNOWN(0x80000006),
    ERR_SHUTDOWN(0x80000007),
    ERR_BLOCK_SIZE_REQD(0x80000008),
    ERR_TOO_BIG(0x80000009),
    ERR_EXT_HEADER_REQD(0x8000000a);

    private final int code;

    NbdReplyType(int code) {
        this.code = code;
    }

    public int code() {
        return code;
    }

    public boolean isError() {
        return code < 0;
    }

    /** The reply type for a wire value, or {@code null} when unknown. */
    public static NbdReplyType fromCode(int code) {
        for (NbdReplyType t : values()) {
            if (t.code == code) {
                return t;
            }
        }
        return null;
    }
}
