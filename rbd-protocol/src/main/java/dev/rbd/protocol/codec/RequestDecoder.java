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
 * A WRITE payload up to {@code maxPayload} that is already whole in the input is passed on as a retained slice (no
 * copy). One that is still arriving and at most {@link #FILL_LIMIT} long is copied, as its parts arrive, into a
 * pooled buffer of its own size, allocated once its first byte is there: the input is then consumed whole and can be
 * reused, where a slice kept for each 1 MiB write pinned the input and made every later read grow and copy it (and
 * beyond the allocator's pooled sizes allocate and zero a fresh direct buffer each time). Larger payloads are
 * gathered in the input as before. A payload above {@code maxPayload} and up to the spec's portable 32 MiB is
 * skipped without being kept and passed on as a request with a dropped payload, so the server can answer EINVAL and
 * keep the connection; anything larger, or a bad magic, is stream corruption. Nothing larger than
 * {@link #FILL_LIMIT} is allocated from a length before the bytes are there.
 */
public final class RequestDecoder extends ByteToMessageDecoder {
    /** The largest payload copied into a buffer of its own while it arrives (2 MiB). */
    public static final int FILL_LIMIT = 2 << 20;

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
    /** The payload being filled while it arrives, or {@code null}. */
    private ByteBuf filling;

    public RequestDecoder(int maxPayload) {
        if (maxPayload <= 0) {
            throw new IllegalArgumentException("maxPayload: " + maxPayload + " (expected: > 0)");
        }
        this.maxPayload = maxPayload;
        this.discardLimit = Math.max(maxPayload, PORTABLE_MAX_PAYLOAD);
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        for (;;) {
            boolean progressed = switch (state) {
                case HEADER -> decodeHeader(in, out);
                case PAYLOAD -> decodePayload(ctx, in, out);
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
        } else if (length <= FILL_LIMIT && in.isReadable()) {
            int n = (int) length;
            filling = ctx.alloc().directBuffer(n, n);
            in.readBytes(filling, in.readableBytes());
            return false;
        } else {
            return false;
        }
        state = State.HEADER;
        out.add(new NbdRequest(flags, type, cookie, offset, length, payload));
        return true;
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
