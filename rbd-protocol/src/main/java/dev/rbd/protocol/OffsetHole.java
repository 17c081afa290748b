package dev.rbd.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;

/**
 * The payload of an {@code NBD_REPLY_TYPE_OFFSET_HOLE} chunk: part of a READ that reads as zeroes.
 *
 * <p>Spec, {@code NBD_REPLY_TYPE_OFFSET_HOLE} (length 12):
 * <pre>
 *   u64       offset (unsigned)
 *   u32       hole size (unsigned; the spec says it MUST be nonzero)
 * </pre>
 */
public record OffsetHole(long offset, long length) {
    public static final int LENGTH = 12;

    public OffsetHole {
        if (length < 0 || length > 0xffff_ffffL) {
            throw new IllegalArgumentException("length: " + length + " (expected: 0-4294967295)");
        }
    }

    public ByteBuf encode() {
        return Unpooled.buffer(LENGTH).writeLong(offset).writeInt((int) length);
    }

    /**
     * Reads a chunk payload that must be exactly one hole.
     *
     * @throws NbdProtocolException when the payload is not 12 bytes long
     */
    public static OffsetHole decode(ByteBuf b) {
        if (b.readableBytes() != LENGTH) {
            throw new NbdProtocolException("OFFSET_HOLE chunk of " + b.readableBytes() + " bytes (expected: "
                    + LENGTH + ")");
        }
        return new OffsetHole(b.readLong(), b.readUnsignedInt());
    }
}
