package dev.rbd.protocol.codec;

import static dev.rbd.protocol.NbdConstants.IHAVEOPT;
import static dev.rbd.protocol.NbdConstants.OPTION_HEADER_LENGTH;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.rbd.protocol.ClientFlags;
import dev.rbd.protocol.FuzzInput;
import dev.rbd.protocol.NettyLeakCheck;
import dev.rbd.protocol.OptionRequest;
import dev.rbd.protocol.codec.DecoderRun.Expected;
import dev.rbd.protocol.codec.DecoderRun.Model;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The server's handshake decoder under any bytes a client may send (inputs: see {@link FuzzInput}; the setup byte's
 * low bit picks the option data limit: the server's 64 KiB or 4 KiB). Checked: the client flags and options that
 * come out are exactly what the bytes say, with each option's data the bytes sent; the only error is
 * {@code NbdProtocolException}, for a bad IHAVEOPT or data over the limit, with nothing decoded after it; every
 * buffer is released.
 */
@ExtendWith(NettyLeakCheck.class)
class ServerHandshakeDecoderFuzzTest {
    /** What RbdServer passes. */
    static final int SERVER_MAX_OPTION_LENGTH = 64 << 10;

    @FuzzTest(maxDuration = "10m")
    void decodesAnyOptionStream(FuzzedDataProvider data) {
        FuzzInput in = FuzzInput.of(data);
        int maxOptionLength = (in.setup() & 1) == 0 ? SERVER_MAX_OPTION_LENGTH : 4096;
        byte[] wire = in.wire();
        DecoderRun.check(new ServerHandshakeDecoder(maxOptionLength), in, wire,
                model(wire, maxOptionLength), ServerHandshakeDecoderFuzzTest::header);
    }

    /** The client's side of the fixed-newstyle handshake as the NBD spec lays it out. */
    static Model model(byte[] wire, int maxOptionLength) {
        ByteBuffer b = ByteBuffer.wrap(wire);
        List<Expected> out = new ArrayList<>();
        if (wire.length < 4) {
            return new Model(out, false);
        }
        out.add(new Expected("flags " + b.getInt(0), 4, 0));
        int pos = 4;
        while (wire.length - pos >= OPTION_HEADER_LENGTH) {
            if (b.getLong(pos) != IHAVEOPT) {
                return new Model(out, true);
            }
            int option = b.getInt(pos + 8);
            long length = Integer.toUnsignedLong(b.getInt(pos + 12));
            if (length > maxOptionLength) {
                return new Model(out, true);
            }
            pos += OPTION_HEADER_LENGTH;
            if (wire.length - pos < length) {
                break;
            }
            out.add(new Expected("option " + option, pos, (int) length));
            pos += (int) length;
        }
        return new Model(out, false);
    }

    private static String header(Object m) {
        if (m instanceof ClientFlags f) {
            return "flags " + f.flags();
        }
        if (m instanceof OptionRequest o) {
            return "option " + o.option();
        }
        return String.valueOf(m);
    }
}
