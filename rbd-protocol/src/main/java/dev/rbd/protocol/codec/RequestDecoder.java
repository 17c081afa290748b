package dev.rbd.protocol.codec;

import static dev.rbd.protocol.NbdConstants.PORTABLE_MAX_PAYLOAD;
import static dev.rbd.protocol.NbdConstants.REQUEST_HEADER_LENGTH;
import static dev.rbd.protocol.NbdConstants.REQUEST_MAGIC;

import dev.rbd.protocol.NbdCommand;
import dev.rbd.protocol.NbdProtocolException;
import dev.rbd.protocol.NbdRequest;
import dev.rbd.protocol.NbdWritePart;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
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
 * A WRITE payload up to {@link #FILL_LIMIT} that is already whole in the input is passed on as a retained slice (no
 * copy). One that is still arriving is copied, as its parts arrive, into a pooled buffer of its own size, allocated
 * once its first byte is there: the input is then consumed whole and can be reused, where a slice kept for each 1 MiB
 * write pinned the input and made every later read grow and copy it (and beyond the allocator's pooled sizes allocate
 * and zero a fresh direct buffer each time). A larger payload, up to {@code maxPayload}, is streamed: its header comes
 * out at once as a {@link NbdRequest#streamedWrite streamed write}, then its bytes as {@link NbdWritePart}s of at most
 * {@link #FILL_LIMIT} each (filled the same way), so a connection never holds more than one part of a payload still
 * arriving, however large the write. A payload above {@code maxPayload} and up to {@link #discardLimit} (twice the
 * larger of {@code maxPayload} and the spec's portable 32 MiB) is skipped without being kept and passed on as a
 * request with a dropped payload, so the server can answer EINVAL and keep the connection; anything larger, or a bad
 * magic, is stream corruption, after which nothing more is decoded (not even when the channel closes). Nothing larger
 * than {@link #FILL_LIMIT} is allocated from a length before the bytes are there.
 */
public final class RequestDecoder extends StopAtCorruptionDecoder {
    /** The largest payload held whole, and the largest part of a streamed one (2 MiB). */
    public static final int FILL_LIMIT = 2 << 20;

    private enum State { HEADER, PAYLOAD, STREAM, DISCARD }

    private final int maxPayload;
    private final long discardLimit;
    private State state = State.HEADER;
    private int flags;
    private int type;
    private long cookie;
    private long offset;
    private long length;
    private long toDiscard;
    /** Bytes of the streamed payload passed on so far. */
    private long streamed;
    /** The payload (or part) being filled while it arrives, or {@code null}. */
    private ByteBuf filling;

    public RequestDecoder(int maxPayload) {
        if (maxPayload <= 0) {
            throw new IllegalArgumentException("maxPayload: " + maxPayload + " (expected: > 0)");
        }
        this.maxPayload = maxPayload;
        this.discardLimit = discardLimit(maxPayload);
    }

    /**
     * The largest WRITE payload skipped and answered with EINVAL rather than taken as stream corruption: a client a
     * little over the limit keeps its connection (skipping holds no memory), while a length far beyond anything
     * sent on purpose still ends a stream that lost its framing.
     */
    public static long discardLimit(int maxPayload) {
        return 2L * Math.max(maxPayload, PORTABLE_MAX_PAYLOAD);
    }

    @Override
    protected void decodeMessages(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        for (;;) {
            boolean progressed = switch (state) {
                case HEADER -> decodeHeader(in, out);
                case PAYLOAD -> decodePayload(ctx, in, out);
                case STREAM -> decodePart(ctx, in, out);
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
        if (length > FILL_LIMIT && length <= maxPayload) {
            streamed = 0;
            state = State.STREAM;
            out.add(NbdRequest.streamedWrite(flags, type, cookie, offset, length));
        } else if (length <= maxPayload) {
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

    private boolean decodePayload(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        ByteBuf payload;
        if (filling != null) {
            in.readBytes(filling, Math.min(in.readableBytes(), filling.writableBytes()));
            if (filling.isWritable()) {
                return false;
            }
            payload = filling;
            filling = null;
        } else if (in.readableBytes() >= length) {
            payload = in.readRetainedSlice((int) length);
        } else if (in.isReadable()) {
            fill(ctx, in, (int) length);
            return false;
        } else {
            return false;
        }
        state = State.HEADER;
        out.add(new NbdRequest(flags, type, cookie, offset, length, payload));
        return true;
    }

    /** The next part of a streamed payload, once all its bytes are there. */
    private boolean decodePart(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        int size = (int) Math.min(FILL_LIMIT, length - streamed);
        ByteBuf part;
        if (filling != null) {
            in.readBytes(filling, Math.min(in.readableBytes(), filling.writableBytes()));
            if (filling.isWritable()) {
                return false;
            }
            part = filling;
            filling = null;
        } else if (in.readableBytes() >= size) {
            part = in.readRetainedSlice(size);
        } else if (in.isReadable()) {
            fill(ctx, in, size);
            return false;
        } else {
            return false;
        }
        long position = streamed;
        streamed += size;
        boolean last = streamed == length;
        if (last) {
            state = State.HEADER;
        }
        out.add(new NbdWritePart(position, part, last));
        return true;
    }

    /** Starts filling a buffer of {@code size} bytes with what the input holds (less than {@code size}). */
    private void fill(ChannelHandlerContext ctx, ByteBuf in, int size) {
        filling = ctx.alloc().directBuffer(size, size);
        in.readBytes(filling, in.readableBytes());
    }

    /**
     * Whether a request has begun to arrive and is not whole yet: part of a header, or of a payload (held, streamed
     * or discarded). Lets the server tell a client that stopped in the middle of a request from an idle one.
     */
    public boolean midRequest() {
        return corrupt() || state != State.HEADER || internalBuffer().isReadable();
    }

    @Override
    protected void handlerRemoved0(ChannelHandlerContext ctx) {
        if (filling != null) {
            filling.release();
            filling = null;
        }
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
