package dev.rbd.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;

/**
 * The data of one {@code NBD_REP_INFO} reply to INFO or GO: a u16 information type ({@code NBD_INFO_*}), then
 * that type's payload. {@link #encode()} writes the whole reply data, type first; {@link #decode(ByteBuf)} reads
 * it back whatever the type.
 */
public sealed interface InfoReply {
    /** The reply data: u16 info type, then the payload. */
    ByteBuf encode();

    /**
     * Reads the data of one INFO reply. A type this side does not know comes back as {@link Unknown} ("the
     * client MUST ignore information replies it does not understand").
     *
     * @throws NbdProtocolException when the data is shorter than a type or a known info has the wrong length
     */
    static InfoReply decode(ByteBuf b) {
        if (b.readableBytes() < 2) {
            throw new NbdProtocolException("INFO reply of " + b.readableBytes() + " bytes (expected: >= 2)");
        }
        int type = b.readUnsignedShort();
        NbdInfo info = NbdInfo.fromCode(type);
        if (info == null) {
            b.skipBytes(b.readableBytes());
            return new Unknown(type);
        }
        return switch (info) {
            case EXPORT -> {
                expectLength(info, b, 10);
                yield new Export(b.readLong(), b.readUnsignedShort());
            }
            case NAME -> new Name(readString(info, b));
            case DESCRIPTION -> new Description(readString(info, b));
            case BLOCK_SIZE -> {
                expectLength(info, b, 12);
                yield new BlockSize(b.readInt(), b.readInt(), b.readInt());
            }
        };
    }

    private static void expectLength(NbdInfo info, ByteBuf b, int length) {
        if (b.readableBytes() != length) {
            throw new NbdProtocolException(info + " info of " + (2 + b.readableBytes()) + " bytes (expected: "
                    + (2 + length) + ")");
        }
    }

    private static String readString(NbdInfo info, ByteBuf b) {
        if (b.readableBytes() > NbdConstants.MAX_STRING_LENGTH) {
            throw new NbdProtocolException(info + " info string of " + b.readableBytes() + " bytes (expected: <= "
                    + NbdConstants.MAX_STRING_LENGTH + ")");
        }
        return b.readCharSequence(b.readableBytes(), StandardCharsets.UTF_8).toString();
    }

    /**
     * {@code NBD_INFO_EXPORT}, which a server MUST send before it acknowledges INFO or GO:
     * <pre>
     *   u16       NBD_INFO_EXPORT (0)
     *   u64       size of the export in bytes (unsigned)
     *   u16       transmission flags
     * </pre>
     */
    record Export(long size, int transmissionFlags) implements InfoReply {
        public Export {
            if ((transmissionFlags & ~0xffff) != 0) {
                throw new IllegalArgumentException("transmissionFlags: 0x" + Integer.toHexString(transmissionFlags)
                        + " (expected: a u16)");
            }
        }

        @Override
        public ByteBuf encode() {
            return Unpooled.buffer(12).writeShort(NbdInfo.EXPORT.code()).writeLong(size)
                    .writeShort(transmissionFlags);
        }
    }

    /**
     * {@code NBD_INFO_NAME}, the export's canonical name:
     * <pre>
     *   u16       NBD_INFO_NAME (1)
     *   n bytes   name, UTF-8, at most 4096 bytes, the length implied by the reply length
     * </pre>
     */
    record Name(String name) implements InfoReply {
        public Name {
            name = name == null ? "" : name;
        }

        @Override
        public ByteBuf encode() {
            return encodeString(NbdInfo.NAME, name);
        }
    }

    /**
     * {@code NBD_INFO_DESCRIPTION}, a description of the export for humans:
     * <pre>
     *   u16       NBD_INFO_DESCRIPTION (2)
     *   n bytes   description, UTF-8, at most 4096 bytes, the length implied by the reply length
     * </pre>
     */
    record Description(String description) implements InfoReply {
        public Description {
            description = description == null ? "" : description;
        }

        @Override
        public ByteBuf encode() {
            return encodeString(NbdInfo.DESCRIPTION, description);
        }
    }

    /**
     * {@code NBD_INFO_BLOCK_SIZE}, the export's block size constraints (u32 values kept as their bits, so a
     * maximum of {@code 0xffffffff}, "no fixed limit", reads as -1):
     * <pre>
     *   u16       NBD_INFO_BLOCK_SIZE (3)
     *   u32       minimum block size
     *   u32       preferred block size
     *   u32       maximum block size (the largest payload)
     * </pre>
     */
    record BlockSize(int minimum, int preferred, int maximum) implements InfoReply {
        @Override
        public ByteBuf encode() {
            return Unpooled.buffer(14).writeShort(NbdInfo.BLOCK_SIZE.code()).writeInt(minimum).writeInt(preferred)
                    .writeInt(maximum);
        }
    }

    /** An information type this side does not know; its payload is skipped, so it encodes as the type alone. */
    record Unknown(int type) implements InfoReply {
        public Unknown {
            if ((type & ~0xffff) != 0) {
                throw new IllegalArgumentException("type: " + type + " (expected: 0-65535)");
            }
        }

        @Override
        public ByteBuf encode() {
            return Unpooled.buffer(2).writeShort(type);
        }
    }

    private static ByteBuf encodeString(NbdInfo type, String s) {
        byte[] b = NbdString.encode(s);
        return Unpooled.buffer(2 + b.length).writeShort(type.code()).writeBytes(b);
    }
}
