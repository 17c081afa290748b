package dev.rbd.protocol.codec;

import static dev.rbd.protocol.NbdConstants.PORTABLE_MAX_PAYLOAD;
import static dev.rbd.protocol.NbdConstants.REQUEST_HEADER_LENGTH;
import static dev.rbd.protocol.NbdConstants.REQUEST_MAGIC;

import dev.rbd.protocol.NbdCommand;
import dev.rbd.protocol.NbdProtocolException;
import dev.rbd.protocol.NbdRequest;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;
import java.util.List;

/**
 * Server side: decodes transmission requests.
 *
 * <pre>
 * C: 32 bits, 0x25609513, magic (NBD_REQUEST_MAGIC)
 * C: 16 bits, command flags
 * C: 16 bits, type
 * C: 64 bits, cookie
 * C: 64 bits, offset (unsigned)
 * C: 32 bits, length (unsigned)
 * C: (length bytes of data if the request is of type NBD_CMD_WRITE)
 * </pre>
 *
 * A WRITE payload up to {@code maxPayload} is passed on as a retained slice, never copied (when it spans socket
 * reads, a slice of a composite of them). A larger one up to the spec's portable 32 MiB is skipped without being
 * kept and passed on as a request with a dropped payload, so the server can answer EINVAL and keep the connection;
 * anything larger, or a bad magic, is stream corruption. Nothing is allocated from an untrusted length.
 */
public final class RequestDecoder extends ByteToMessageDecoder {
    private enum State { HEADER, PAYLOAD, DISCARD }

    private final int maxPayload;
    private final long discardLimit;
    private State state = State.HEADER;
    private int flags;
    private int type;
    private long cookie;
    private long offset;
    private long length;
    private long toDiscard;

    public RequestDecoder(int maxPayload) {
        if (maxPayload <= 0) {
            throw new IllegalArgumentException("maxPayload: " + maxPayload + " (expected: > 0)");
        }
        this.maxPayload = maxPayload;
        this.discardLimit = Math.max(maxPayload, PORTABLE_MAX_PAYLOAD);
        // A payload that spans socket reads would be copied by the default cumulator: every read behind a cut
        // request is copied into one growing buffer. Composing keeps the reads as they came, and the payload is a
        // slice over them. docs/benchmarks-codec.md has the figures.
        setCumulator(COMPOSITE_CUMULATOR);
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        for (;;) {
            boolean progressed = switch (state) {
                case HEADER -> decodeHeader(in, out);
                case PAYLOAD -> decodePayload(in, out);
                case DISCARD -> decodeDiscard(in, out);
            };
            if (!progressed || !out.isEmpty()) {
                return;
            }
        }
    }

    private boolean decodeHeader(ByteBuf in, List<Object> out) {
        if (in.readableBytes() < REQUEST_HEADER_LENGTH) {
            return false;
        }
        int magic = in.readInt();
        if (magic != REQUEST_MAGIC) {
            throw new NbdProtocolException("bad request magic 0x" + Integer.toHexString(magic)
                    + " (expected: 0x" + Integer.toHexString(REQUEST_MAGIC) + ")");
        }
        flags = in.readUnsignedShort();
        type = in.readUnsignedShort();
        cookie = in.readLong();
        offset = in.readLong();
        length = in.readUnsignedInt();
        if (type != NbdCommand.WRITE.code()) {
            out.add(new NbdRequest(flags, type, cookie, offset, length, Unpooled.EMPTY_BUFFER));
            return true;
        }
        if (length <= maxPayload) {
            state = State.PAYLOAD;
        } else if (length <= discardLimit) {
            toDiscard = length;
            state = State.DISCARD;
        } else {
            throw new NbdProtocolException("write payload of " + length + " bytes (expected: <= " + discardLimit
                    + ")");
        }
        return true;
    }

    private boolean decodePayload(ByteBuf in, List<Object> out) {
        if (in.readableBytes() < length) {
            return false;
        }
        ByteBuf payload = in.readRetainedSlice((int) length);
        state = State.HEADER;
        out.add(new NbdRequest(flags, type, cookie, offset, length, payload));
        return true;
    }

    private boolean decodeDiscard(ByteBuf in, List<Object> out) {
        int n = (int) Math.min(in.readableBytes(), toDiscard);
        in.skipBytes(n);
        toDiscard -= n;
        if (toDiscard > 0) {
            return false;
        }
        state = State.HEADER;
        out.add(NbdRequest.withDroppedPayload(flags, type, cookie, offset, length));
        return true;
    }
}
