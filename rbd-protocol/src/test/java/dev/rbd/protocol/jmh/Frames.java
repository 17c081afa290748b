package dev.rbd.protocol.jmh;

import static dev.rbd.protocol.NbdConstants.REPLY_FLAG_DONE;
import static dev.rbd.protocol.NbdConstants.REPLY_TYPE_OFFSET_DATA;
import static dev.rbd.protocol.NbdConstants.REQUEST_MAGIC;
import static dev.rbd.protocol.NbdConstants.SIMPLE_REPLY_MAGIC;
import static dev.rbd.protocol.NbdConstants.STRUCTURED_REPLY_MAGIC;

import dev.rbd.protocol.NbdCommand;
import io.netty.buffer.ByteBuf;

/** Writes NBD frames as a peer sends them, for the benchmarks to feed to a decoder. */
final class Frames {
    static final int KIB4 = 4 << 10;
    static final int MIB1 = 1 << 20;

    private Frames() {
    }

    /** A request header; a WRITE's payload is written separately ({@link #data}). */
    static ByteBuf request(ByteBuf out, NbdCommand command, long cookie, long offset, int length) {
        return out.writeInt(REQUEST_MAGIC).writeShort(0).writeShort(command.code()).writeLong(cookie)
                .writeLong(offset).writeInt(length);
    }

    /** {@code n} bytes of a recognisable pattern. */
    static ByteBuf data(ByteBuf out, int n) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) (i * 7 + 1);
        }
        return out.writeBytes(b); // in one call: a leak-tracked buffer records every call
    }

    /** A successful simple reply header; a READ's data is written separately. */
    static ByteBuf simpleReply(ByteBuf out, long cookie) {
        return out.writeInt(SIMPLE_REPLY_MAGIC).writeInt(0).writeLong(cookie);
    }

    /** An OFFSET_DATA chunk header with DONE and its offset, for {@code n} bytes of data written separately. */
    static ByteBuf offsetDataChunk(ByteBuf out, long cookie, long offset, int n) {
        return out.writeInt(STRUCTURED_REPLY_MAGIC).writeShort(REPLY_FLAG_DONE).writeShort(REPLY_TYPE_OFFSET_DATA)
                .writeLong(cookie).writeInt(8 + n).writeLong(offset);
    }
}
