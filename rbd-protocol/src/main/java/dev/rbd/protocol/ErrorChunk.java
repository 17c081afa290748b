package dev.rbd.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;

/**
 * The payload of an error chunk ({@code NBD_REPLY_TYPE_ERROR}, and the start of {@code NBD_REPLY_TYPE_ERROR_OFFSET}).
 *
 * <p>Spec, {@code NBD_REPLY_TYPE_ERROR}:
 * <pre>
 *   u32       error (an NBD error value, kept even when unknown)
 *   u16       message length
 *   n bytes   message for humans, UTF-8 (may be empty)
 * </pre>
 * {@code NBD_REPLY_TYPE_ERROR_OFFSET} adds a u64 offset after the message; {@link #decode(ByteBuf)} leaves it
 * unread.
 */
public record ErrorChunk(int error, String message) {
    /** The shortest well-formed payload: the error and an empty message's length. */
    public static final int MIN_LENGTH = 6;

    public ErrorChunk {
        message = message == null ? "" : message;
    }

    public ErrorChunk(NbdError error, String message) {
        this(error.code(), message);
    }

    /** The payload; the message is cut at a character boundary to the spec's 4096 bytes. */
    public ByteBuf encode() {
        byte[] text = NbdString.encode(message);
        return Unpooled.buffer(MIN_LENGTH + text.length).writeInt(error).writeShort(text.length).writeBytes(text);
    }

    /**
     * Reads the error and message, leaving whatever follows (ERROR_OFFSET's offset) unread.
     *
     * @throws NbdProtocolException when the payload is too short or the message length runs past it
     */
    public static ErrorChunk decode(ByteBuf b) {
        if (b.readableBytes() < MIN_LENGTH) {
            throw new NbdProtocolException("error chunk of " + b.readableBytes() + " bytes (expected: >= "
                    + MIN_LENGTH + ")");
        }
        int error = b.readInt();
        int length = b.readUnsignedShort();
        if (length > b.readableBytes()) {
            throw new NbdProtocolException("error message length " + length + " does not fit");
        }
        return new ErrorChunk(error, b.readCharSequence(length, StandardCharsets.UTF_8).toString());
    }

    /**
     * The error value of a payload at least {@link #MIN_LENGTH} bytes long, else 0; the payload is not consumed.
     * Read apart from the message so that a server's broken message does not hide its error.
     */
    public static int peekError(ByteBuf b) {
        return b.readableBytes() >= MIN_LENGTH ? b.getInt(b.readerIndex()) : 0;
    }
}
