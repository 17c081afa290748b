package dev.rbd.protocol.codec;

import static dev.rbd.protocol.NbdConstants.PORTABLE_MAX_PAYLOAD;
import static dev.rbd.protocol.NbdConstants.REQUEST_HEADER_LENGTH;
import static dev.rbd.protocol.NbdConstants.REQUEST_MAGIC;
import static dev.rbd.protocol.codec.RequestDecoder.FILL_LIMIT;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.rbd.protocol.FuzzInput;
import dev.rbd.protocol.NbdCommand;
import dev.rbd.protocol.NbdRequest;
import dev.rbd.protocol.NbdWritePart;
import dev.rbd.protocol.NettyLeakCheck;
import dev.rbd.protocol.codec.DecoderRun.Expected;
import dev.rbd.protocol.codec.DecoderRun.Model;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The server's request decoder under any bytes a client may send (inputs: see {@link FuzzInput}; the setup byte's
 * low two bits pick the largest payload accepted, its top six a filler that completes large WRITEs). Checked: the
 * requests, streamed parts and dropped payloads that come out are exactly what the bytes say, with each header field
 * as sent and each payload the bytes sent; the only error is {@code NbdProtocolException}, for a bad magic or a
 * payload over the discard limit, with nothing decoded after it; every buffer is released.
 */
@ExtendWith(NettyLeakCheck.class)
class RequestDecoderFuzzTest {
    /** The largest payloads the harness decodes under: tiny, below, at and above the streaming threshold. */
    private static final int[] MAX_PAYLOADS = {4096, FILL_LIMIT, 4 << 20, 32 << 20};

    @FuzzTest(maxDuration = "10m")
    void decodesAnyRequestStream(FuzzedDataProvider data) {
        FuzzInput in = FuzzInput.of(data);
        int maxPayload = MAX_PAYLOADS[in.setup() & 3];
        byte[] wire = in.wireWithFiller();
        DecoderRun.check(new RequestDecoder(maxPayload), in, wire, model(wire, maxPayload),
                RequestDecoderFuzzTest::header);
    }

    /** The request stream as the NBD spec lays it out, with the decoder's documented limits. */
    static Model model(byte[] wire, int maxPayload) {
        long discardLimit = 2L * Math.max(maxPayload, PORTABLE_MAX_PAYLOAD);
        ByteBuffer b = ByteBuffer.wrap(wire);
        List<Expected> out = new ArrayList<>();
        int pos = 0;
        while (wire.length - pos >= REQUEST_HEADER_LENGTH) {
            if (b.getInt(pos) != REQUEST_MAGIC) {
                return new Model(out, true);
            }
            int flags = Short.toUnsignedInt(b.getShort(pos + 4));
            int type = Short.toUnsignedInt(b.getShort(pos + 6));
            long length = Integer.toUnsignedLong(b.getInt(pos + 24));
            String head = request(flags, type, b.getLong(pos + 8), b.getLong(pos + 16), length);
            pos += REQUEST_HEADER_LENGTH;
            if (type != NbdCommand.WRITE.code()) {
                out.add(new Expected(head, pos, 0));
            } else if (length > FILL_LIMIT && length <= maxPayload) {
                out.add(new Expected(head + " streamed", pos, 0));
                for (long at = 0; at < length; ) {
                    int size = (int) Math.min(FILL_LIMIT, length - at);
                    if (wire.length - pos < size) {
                        return new Model(out, false);
                    }
                    out.add(new Expected(part(at, at + size == length), pos, size));
                    pos += size;
                    at += size;
                }
            } else if (length <= maxPayload) {
                if (wire.length - pos < length) {
                    break;
                }
                out.add(new Expected(head, pos, (int) length));
                pos += (int) length;
            } else if (length <= discardLimit) {
                if (wire.length - pos < length) {
                    break;
                }
                out.add(new Expected(head + " dropped", pos, 0));
                pos += (int) length;
            } else {
                return new Model(out, true);
            }
        }
        return new Model(out, false);
    }

    private static String request(int flags, int type, long cookie, long offset, long length) {
        return "request flags=" + flags + " type=" + type + " cookie=" + cookie + " offset=" + offset + " length="
                + length;
    }

    private static String part(long position, boolean last) {
        return "part position=" + position + (last ? " last" : "");
    }

    private static String header(Object m) {
        if (m instanceof NbdRequest r) {
            return request(r.flags(), r.type(), r.cookie(), r.offset(), r.length())
                    + (r.payloadStreamed() ? " streamed" : "") + (r.payloadDropped() ? " dropped" : "");
        }
        if (m instanceof NbdWritePart p) {
            return part(p.position(), p.last());
        }
        return String.valueOf(m);
    }
}
