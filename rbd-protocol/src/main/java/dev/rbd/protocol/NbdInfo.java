package dev.rbd.protocol;

/** Information types inside {@code NBD_REP_INFO} ({@code NBD_INFO_*}). */
public enum NbdInfo {
    EXPORT(0),
    NAME(1),
    DESCRIPTION(2),
    BLOCK_SIZE(3);

    private final int code;

    NbdInfo(int code) {
        this.code = code;
    }

    public int code() {
        return code;
    }

    /** The info type for a wire value, or {@code null} when unknown (servers ignore unknown requests). */
    public static NbdInfo fromCode(int code) {
        return code >= 0 && code < values().length ? values()[code] : null;
    }
}
