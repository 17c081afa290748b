package dev.rbd.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import java.util.function.Function;

/** Hex fixtures for payload records: decode from hex, encode to hex, releasing the buffer either way. */
final class PayloadHex {
    private PayloadHex() {
    }

    static <T> T decodeHex(String hex, Function<ByteBuf, T> decode) {
        ByteBuf b = Unpooled.wrappedBuffer(ByteBufUtil.decodeHexDump(hex));
        try {
            return decode.apply(b);
        } finally {
            b.release();
        }
    }

    static String encodeHex(ByteBuf b) {
        try {
            return ByteBufUtil.hexDump(b);
        } finally {
            b.release();
        }
    }

    /** Encodes, checks nothing is left over after decoding, and returns what was decoded. */
    static <T> T roundTrip(ByteBuf encoded, Function<ByteBuf, T> decode) {
        try {
            T t = decode.apply(encoded);
            if (encoded.isReadable()) {
                throw new AssertionError(encoded.readableBytes() + " bytes left after decoding");
            }
            return t;
        } finally {
            encoded.release();
        }
    }
}
