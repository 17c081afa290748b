package dev.rbd.protocol;

/** The client's u32 flags, sent once after the greeting. */
public record ClientFlags(int flags) {
    public boolean fixedNewstyle() {
        return (flags & NbdConstants.FLAG_C_FIXED_NEWSTYLE) != 0;
    }

    public boolean noZeroes() {
        return (flags & NbdConstants.FLAG_C_NO_ZEROES) != 0;
    }

    /** Bits this implementation does not know; the spec says the server MUST then close the connection. */
    public int unknownFlags() {
        return flags & ~NbdConstants.KNOWN_CLIENT_FLAGS;
    }
}
