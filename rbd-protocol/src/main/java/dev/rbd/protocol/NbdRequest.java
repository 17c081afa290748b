package dev.rbd.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.DefaultByteBufHolder;
import io.netty.buffer.Unpooled;

/**
 * A transmission request. The payload is non-empty only for WRITE. Type and flags are kept as wire values so the
 * server can answer unknown ones with {@code EINVAL} instead of dropping the connection; offset is unsigned 64-bit
 * and length unsigned 32-bit (held in a {@code long}).
 */
public final class NbdRequest extends DefaultByteBufHolder {
    private final int flags;
    private final int type;
    private final long cookie;
    private final long offset;
    private final long length;
    private final boolean payloadDropped;
    private final boolean payloadStreamed;

    public NbdRequest(int flags, int type, long cookie, long offset, long length, ByteBuf payload) {
        this(flags, type, cookie, offset, length, payload, false, false);
    }

    private NbdRequest(int flags, int type, long cookie, long offset, long length, ByteBuf payload,
                       boolean payloadDropped, boolean payloadStreamed) {
        super(payload);
        if (length < 0 || length > 0xffffffffL) {
            throw new IllegalArgumentException("length: " + length + " (expected: 0..2^32-1)");
        }
        this.flags = flags & 0xffff;
        this.type = type & 0xffff;
        this.cookie = cookie;
        this.offset = offset;
        this.length = length;
        this.payloadDropped = payloadDropped;
        this.payloadStreamed = payloadStreamed;
    }

    /** A request without payload (everything but WRITE). */
    public static NbdRequest of(int flags, NbdCommand command, long cookie, long offset, long length) {
        return new NbdRequest(flags, command.code(), cookie, offset, length, Unpooled.EMPTY_BUFFER);
    }

    /**
     * A WRITE whose payload was larger than the server accepts: the decoder skipped its bytes without keeping them,
     * so the server can answer {@code EINVAL} and keep the connection.
     */
    public static NbdRequest withDroppedPayload(int flags, int type, long cookie, long offset, long length) {
        return new NbdRequest(flags, type, cookie, offset, length, Unpooled.EMPTY_BUFFER, true, false);
    }

    /**
     * The header of a WRITE whose payload is too large to hold whole: it follows as {@link NbdWritePart}s, in order,
     * the last one marked, so the receiver holds one part at a time.
     */
    public static NbdRequest streamedWrite(int flags, int type, long cookie, long offset, long length) {
        return new NbdRequest(flags, type, cookie, offset, length, Unpooled.EMPTY_BUFFER, false, true);
    }

    public int flags() {
        return flags;
    }

    public boolean hasFlag(int flag) {
        return (flags & flag) != 0;
    }

    /** The wire value of the request type. */
    public int type() {
        return type;
    }

    /** The command, or {@code null} for a type this implementation does not know. */
    public NbdCommand command() {
        return NbdCommand.fromCode(type);
    }

    public long cookie() {
        return cookie;
    }

    /** Unsigned 64-bit offset. */
    public long offset() {
        return offset;
    }

    /** Unsigned 32-bit length. */
    public long length() {
        return length;
    }

    public boolean payloadDropped() {
        return payloadDropped;
    }

    /** A WRITE whose payload follows as {@link NbdWritePart}s (see {@link #streamedWrite}). */
    public boolean payloadStreamed() {
        return payloadStreamed;
    }

    @Override
    public NbdRequest replace(ByteBuf content) {
        return new NbdRequest(flags, type, cookie, offset, length, content, payloadDropped, payloadStreamed);
    }

    @Override
    public NbdRequest retain() {
        super.retain();
        return this;
    }

    @Override
    public NbdRequest touch(Object hint) {
        super.touch(hint);
        return this;
    }

    @Override
    public String toString() {
        NbdCommand c = command();
        return "NbdRequest(" + (c != null ? c.name() : "type " + type) + ", flags=0x" + Integer.toHexString(flags)
                + ", cookie=" + Long.toUnsignedString(cookie) + ", offset=" + Long.toUnsignedString(offset)
                + ", length=" + length + (payloadDropped ? ", payload dropped" : "") + (payloadStreamed ? ", payload streamed" : "")
                + ")";
    }
}
