package dev.rbd.protocol.codec;

import static dev.rbd.protocol.NbdConstants.IHAVEOPT;
import static dev.rbd.protocol.NbdConstants.OPTION_HEADER_LENGTH;

import dev.rbd.protocol.ClientFlags;
import dev.rbd.protocol.NbdProtocolException;
import dev.rbd.protocol.OptionRequest;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import java.util.List;

/**
 * Server side of the handshake: the client's flags, then options.
 *
 * <pre>
 * C: 32 bits, client flags                 (once)
 * C: 64 bits, 0x49484156454F5054 (IHAVEOPT) (each option)
 * C: 32 bits, option
 * C: 32 bits, length of option data (unsigned)
 * C: any data needed for the chosen option, of length as specified above
 * </pre>
 *
 * Option data longer than {@code maxOptionLength} is stream corruption: nothing is allocated from it. After stream
 * corruption (that, or a bad IHAVEOPT) nothing more is decoded, not even when the channel closes.
 */
public final class ServerHandshakeDecoder extends StopAtCorruptionDecoder {
    private enum State { CLIENT_FLAGS, OPTION_HEADER, OPTION_DATA }

    private final int maxOptionLength;
    private State state = State.CLIENT_FLAGS;
    private int option;
    private int length;

    public ServerHandshakeDecoder(int maxOptionLength) {
        this.maxOptionLength = maxOptionLength;
    }

    @Override
    protected void decodeMessages(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        // One message per call: the handshake handler may replace this decoder after any option, and the bytes
        // behind it then belong to the transmission phase.
        switch (state) {
            case CLIENT_FLAGS -> decodeClientFlags(in, out);
            case OPTION_HEADER -> {
                if (decodeOptionHeader(in)) {
                    decodeOptionData(in, out);
                }
            }
            case OPTION_DATA -> decodeOptionData(in, out);
        }
    }

    /**
     * Drops the bytes received but not yet decoded, and returns how many. After STARTTLS, bytes the client sent behind
     * it in plaintext must never be read as options (nbdkit's CVE-2021-3716): the next byte decoded is the first the
     * TLS layer decrypted. Called while the STARTTLS option is being handled, before the next read.
     */
    public int discardBuffered() {
        ByteBuf b = internalBuffer();
        int n = b.readableBytes();
        b.skipBytes(n);
        if (state != State.CLIENT_FLAGS) {
            state = State.OPTION_HEADER;
        }
        return n;
    }

    private void decodeClientFlags(ByteBuf in, List<Object> out) {
        if (in.readableBytes() < 4) {
            return;
        }
        state = State.OPTION_HEADER;
        out.add(new ClientFlags(in.readInt()));
    }

    private boolean decodeOptionHeader(ByteBuf in) {
        if (in.readableBytes() < OPTION_HEADER_LENGTH) {
            return false;
        }
        long magic = in.readLong();
        if (magic != IHAVEOPT) {
            throw new NbdProtocolException("bad option magic 0x" + Long.toHexString(magic) + " (expected: IHAVEOPT)");
        }
        option = in.readInt();
        long n = in.readUnsignedInt();
        if (n > maxOptionLength) {
            throw new NbdProtocolException("option data of " + n + " bytes (expected: <= " + maxOptionLength + ")");
        }
        length = (int) n;
        state = State.OPTION_DATA;
        return true;
    }

    private void decodeOptionData(ByteBuf in, List<Object> out) {
        if (in.readableBytes() < length) {
            return;
        }
        state = State.OPTION_HEADER;
        out.add(new OptionRequest(option, in.readRetainedSlice(length)));
    }
}
