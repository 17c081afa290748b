package dev.rbd.protocol;

/** Transmission request types ({@code NBD_CMD_*}). */
public enum NbdCommand {
    READ(0),
    WRITE(1),
    DISC(2),
    FLUSH(3),
    TRIM(4),
    CACHE(5),
    WRITE_ZEROES(6),
    BLOCK_STATUS(7);

    private static final NbdCommand[] BY_CODE = new NbdCommand[8];

    static {
        for (NbdCommand c : values()) {
            BY_CODE[c.code] = c;
        }
    }

    private final int code;

    NbdCommand(int code) {
        this.code = code;
    }

    public int code() {
        return code;
    }

    /** The command for a wire value, or {@code null} when the value is not a known command. */
    public static NbdCommand fromCode(int code) {
        return code >= 0 && code < BY_CODE.length ? BY_CODE[code] : null;
    }
}
