package dev.rbd.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.DefaultByteBufHolder;
import io.netty.buffer.Unpooled;

/**
 * One structured reply chunk. For OFFSET_DATA the chunk's 8-byte offset is held in {@link #offset()} and the
 * content is the data alone (so read data is never copied to sit behind it); for every other type the content is
 * the chunk's whole payload. One type serves both the encoder and the decoder.
 */
public final class NbdStructuredReply extends DefaultByteBufHolder {
    private final int flags;
    private final int type;
    private final long cookie;
    private final long offset;

    /** A chunk whose content is its whole payload (any type but OFFSET_DATA). */
    public NbdStructuredReply(int flags, int type, long cookie, ByteBuf payload) {
        this(flags, type, cookie, 0, payload);
        if (this.type == NbdConstants.REPLY_TYPE_OFFSET_DATA) {
            throw new IllegalArgumentException("OFFSET_DATA chunks are made with offsetData(...)");
        }
    }

    private NbdStructuredReply(int flags, int type, long cookie, long offset, ByteBuf content) {
        super(content);
        this.flags = flags & 0xffff;
        this.type = type & 0xffff;
        this.cookie = cookie;
        this.offset = offset;
    }

    /** {@code NBD_REPLY_TYPE_NONE} with DONE: success of a command whose data came in earlier chunks. */
    public static NbdStructuredReply done(long cookie) {
        return new NbdStructuredReply(NbdConstants.REPLY_FLAG_DONE, NbdConstants.REPLY_TYPE_NONE, cookie,
                Unpooled.EMPTY_BUFFER);
    }

    /**
     * An OFFSET_DATA chunk: {@code data} (at least one byte, as the spec requires) read at {@code offset};
     * ownership of {@code data} passes to the chunk.
     */
    public static NbdStructuredReply offsetData(long cookie, long offset, ByteBuf data, boolean done) {
        if (!data.isReadable()) {
            data.release();
            throw new IllegalArgumentException("OFFSET_DATA needs at least one byte of data");
        }
        return new NbdStructuredReply(done ? NbdConstants.REPLY_FLAG_DONE : 0, NbdConstants.REPLY_TYPE_OFFSET_DATA,
                cookie, offset, data);
    }

    /**
     * An ERROR chunk with DONE: error u32, message length u16, message (UTF-8, cut to the spec's 4096 bytes).
     */
    public static NbdStructuredReply error(long cookie, NbdError error, String message) {
        return new NbdStructuredReply(NbdConstants.REPLY_FLAG_DONE, NbdConstants.REPLY_TYPE_ERROR, cookie,
                new ErrorChunk(error, message).encode());
    }

    public int flags() {
        return flags;
    }

    public boolean isDone() {
        return (flags & NbdConstants.REPLY_FLAG_DONE) != 0;
    }

    public int type() {
        return type;
    }

    public long cookie() {
        return cookie;
    }

    /** For OFFSET_DATA: the offset the data was read at (unsigned); 0 for other types. */
    public long offset() {
        return offset;
    }

    /** The payload length on the wire: the content, plus the 8-byte offset for OFFSET_DATA. */
    public int payloadLength() {
        return content().readableBytes() + (type == NbdConstants.REPLY_TYPE_OFFSET_DATA ? 8 : 0);
    }

    public boolean isError() {
        return NbdConstants.isErrorChunk(type);
    }

    /** For an error chunk with a well-formed payload: its error value, else 0. */
    public int errorCode() {
        return isError() ? ErrorChunk.peekError(content()) : 0;
    }

    /** For an error chunk with a well-formed payload: its message, else the empty string. */
    public String errorMessage() {
        if (!isError()) {
            return "";
        }
        try {
            // a duplicate, so that reading the message leaves the content as it was
            return ErrorChunk.decode(content().duplicate()).message();
        } catch (NbdProtocolException e) {
            return "";
        }
    }

    @Override
    public NbdStructuredReply replace(ByteBuf content) {
        return new NbdStructuredReply(flags, type, cookie, offset, content);
    }

    @Override
    public NbdStructuredReply retain() {
        super.retain();
        return this;
    }

    @Override
    public String toString() {
        return "NbdStructuredReply(type=0x" + Integer.toHexString(type) + ", flags=" + flags + ", cookie="
                + Long.toUnsignedString(cookie) + (type == NbdConstants.REPLY_TYPE_OFFSET_DATA ? ", offset="
                + Long.toUnsignedString(offset) : "") + ", payload=" + payloadLength()
                + (isError() ? ", error=" + errorCode() + " " + errorMessage() : "") + ")";
    }

    /** Hex of the payload, for tests and traces. */
    public String payloadHex() {
        return ByteBufUtil.hexDump(content());
    }
}
