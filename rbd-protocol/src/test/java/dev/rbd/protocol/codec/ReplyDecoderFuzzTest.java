package dev.rbd.protocol.codec;

import static dev.rbd.protocol.NbdConstants.REPLY_FLAG_DONE;
import static dev.rbd.protocol.NbdConstants.REPLY_TYPE_OFFSET_DATA;
import static dev.rbd.protocol.NbdConstants.SIMPLE_REPLY_HEADER_LENGTH;
import static dev.rbd.protocol.NbdConstants.SIMPLE_REPLY_MAGIC;
import static dev.rbd.protocol.NbdConstants.STRUCTURED_REPLY_HEADER_LENGTH;
import static dev.rbd.protocol.NbdConstants.STRUCTURED_REPLY_MAGIC;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.rbd.protocol.FuzzInput;
import dev.rbd.protocol.NbdSimpleReply;
import dev.rbd.protocol.NbdStructuredReply;
import dev.rbd.protocol.NettyLeakCheck;
import dev.rbd.protocol.codec.DecoderRun.Expected;
import dev.rbd.protocol.codec.DecoderRun.Model;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The client's reply decoder under any bytes a server may send (inputs: see {@link FuzzInput}; the setup byte's low
 * bit picks the largest chunk accepted, 4 KiB or the client's 32 MiB + 8, its top six bits a filler that completes
 * large replies). The pending READs are given by the cookie: a non-negative cookie is a READ of its low 24 bits of
 * length (0: not a READ), a negative one is no pending READ. Checked: the simple replies and chunks that come out
 * are exactly what the bytes say, with each data the bytes sent; the only error is {@code NbdProtocolException},
 * for a bad magic, a payload over the limit or a short OFFSET_DATA, with nothing decoded after it; every buffer is
 * released.
 */
@ExtendWith(NettyLeakCheck.class)
class ReplyDecoderFuzzTest {
    /** What rbd-client passes against rbd-server: the largest payload, plus OFFSET_DATA's offset. */
    static final int CLIENT_MAX_CHUNK = (32 << 20) + 8;

    @FuzzTest(maxDuration = "10m")
    void decodesAnyReplyStream(FuzzedDataProvider data) {
        FuzzInput in = FuzzInput.of(data);
        int maxChunk = (in.setup() & 1) == 0 ? CLIENT_MAX_CHUNK : 4096;
        byte[] wire = in.wireWithFiller();
        DecoderRun.check(new ReplyDecoder(ReplyDecoderFuzzTest::readLength, maxChunk), in, wire,
                model(wire, maxChunk), ReplyDecoderFuzzTest::header);
    }

    static long readLength(long cookie) {
        return cookie < 0 ? -1 : cookie & 0xffffff;
    }

    /** The reply stream as the NBD spec lays it out, with the decoder's documented limits. */
    static Model model(byte[] wire, int maxChunk) {
        ByteBuffer b = ByteBuffer.wrap(wire);
        List<Expected> out = new ArrayList<>();
        int pos = 0;
        while (wire.length - pos >= 4) {
            int magic = b.getInt(pos);
            if (magic == SIMPLE_REPLY_MAGIC) {
                if (wire.length - pos < SIMPLE_REPLY_HEADER_LENGTH) {
                    break;
                }
                int error = b.getInt(pos + 4);
                long cookie = b.getLong(pos + 8);
                pos += SIMPLE_REPLY_HEADER_LENGTH;
                long n = error == 0 ? readLength(cookie) : -1;
                if (n > maxChunk) {
                    return new Model(out, true);
                }
                int length = (int) Math.max(n, 0);
                if (wire.length - pos < length) {
                    break;
                }
                out.add(new Expected(simple(cookie, error), pos, length));
                pos += length;
            } else if (magic == STRUCTURED_REPLY_MAGIC) {
                if (wire.length - pos < STRUCTURED_REPLY_HEADER_LENGTH) {
                    break;
                }
                int flags = Short.toUnsignedInt(b.getShort(pos + 4));
                int type = Short.toUnsignedInt(b.getShort(pos + 6));
                long cookie = b.getLong(pos + 8);
                long length = Integer.toUnsignedLong(b.getInt(pos + 16));
                if (length > maxChunk) {
                    return new Model(out, true);
                }
                pos += STRUCTURED_REPLY_HEADER_LENGTH;
                if (wire.length - pos < length) {
                    break;
                }
                if (type == REPLY_TYPE_OFFSET_DATA) {
                    if (length < 9) {
                        return new Model(out, true);
                    }
                    // OFFSET_DATA keeps only the DONE flag
                    out.add(new Expected(chunk(flags & REPLY_FLAG_DONE, type, cookie, b.getLong(pos)), pos + 8,
                            (int) length - 8));
                } else {
                    out.add(new Expected(chunk(flags, type, cookie, 0), pos, (int) length));
                }
                pos += (int) length;
            } else {
                return new Model(out, true);
            }
        }
        return new Model(out, false);
    }

    private static String simple(long cookie, int error) {
        return "simple cookie=" + cookie + " error=" + error;
    }

    private static String chunk(int flags, int type, long cookie, long offset) {
        return "chunk flags=" + flags + " type=" + type + " cookie=" + cookie + " offset=" + offset;
    }

    private static String header(Object m) {
        if (m instanceof NbdSimpleReply r) {
            return simple(r.cookie(), r.error());
        }
        if (m instanceof NbdStructuredReply c) {
            return chunk(c.flags(), c.type(), c.cookie(), c.offset());
        }
        return String.valueOf(m);
    }
}
