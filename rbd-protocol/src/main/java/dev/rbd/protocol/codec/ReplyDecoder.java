package dev.rbd.protocol.codec;

import static dev.rbd.protocol.NbdConstants.REPLY_FLAG_DONE;
import static dev.rbd.protocol.NbdConstants.REPLY_TYPE_OFFSET_DATA;
import static dev.rbd.protocol.NbdConstants.SIMPLE_REPLY_HEADER_LENGTH;
import static dev.rbd.protocol.NbdConstants.SIMPLE_REPLY_MAGIC;
import static dev.rbd.protocol.NbdConstants.STRUCTURED_REPLY_HEADER_LENGTH;
import static dev.rbd.protocol.NbdConstants.STRUCTURED_REPLY_MAGIC;

import dev.rbd.protocol.NbdProtocolException;
import dev.rbd.protocol.NbdSimpleReply;
import dev.rbd.protocol.NbdStructuredReply;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import java.util.List;

/**
 * Client side: decodes simple replies and structured reply chunks.
 *
 * <p>A simple reply does not say how much data follows it: only the client knows, from the READ the cookie
 * belongs to. The decoder asks {@link ReadLengths} for that; a successful simple reply to an unknown cookie is
 * passed on without data and the connection's handler treats it as the protocol error it is. After stream
 * corruption (a bad magic, an oversized payload, a short OFFSET_DATA) nothing more is decoded, not even when the
 * channel closes.
 */
public final class ReplyDecoder extends StopAtCorruptionDecoder {
    /** Tells the decoder how many data bytes follow a successful simple reply. */
    @FunctionalInterface
    public interface ReadLengths {
        /** The length of the READ with this cookie, or a negative value when the cookie is not a pending READ. */
        long readLength(long cookie);
    }

    private enum State { HEADER, SIMPLE_DATA, CHUNK_PAYLOAD }

    private final ReadLengths readLengths;
    private final int maxChunk;
    private State state = State.HEADER;
    private int error;
    private int flags;
    private int type;
    private long cookie;
    private int length;

    /**
     * @param maxChunk the largest data or chunk payload accepted; larger is stream corruption
     */
    public ReplyDecoder(ReadLengths readLengths, int maxChunk) {
        this.readLengths = readLengths;
        this.maxChunk = maxChunk;
        // The default merge cumulator copies a large reply's socket reads into one buffer. Netty's composite
        // cumulator would not, but it keeps one component per socket read: a server trickling a 32 MiB reply a
        // byte per segment would make the client hold millions of buffers. Handing the parts of a reply on as
        // they come is the copy-free way that stays bounded.
    }

    @Override
    protected void decodeMessages(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        for (;;) {
            boolean progressed = switch (state) {
                case HEADER -> decodeHeader(in, out);
                case SIMPLE_DATA -> decodeSimpleData(in, out);
                case CHUNK_PAYLOAD -> decodeChunkPayload(in, out);
            };
            if (!progressed || !out.isEmpty()) {
                return;
            }
        }
    }

    private boolean decodeHeader(ByteBuf in, List<Object> out) {
        if (in.readableBytes() < 4) {
            return false;
        }
        int magic = in.getInt(in.readerIndex());
        if (magic == SIMPLE_REPLY_MAGIC) {
            if (in.readableBytes() < SIMPLE_REPLY_HEADER_LENGTH) {
                return false;
            }
            in.skipBytes(4);
            error = in.readInt();
            cookie = in.readLong();
            long n = error == 0 ? readLengths.readLength(cookie) : -1;
            if (n <= 0) {
                out.add(new NbdSimpleReply(cookie, error, Unpooled.EMPTY_BUFFER));
                return true;
            }
            checkLength(n);
            length = (int) n;
            state = State.SIMPLE_DATA;
            return true;
        }
        if (magic == STRUCTURED_REPLY_MAGIC) {
            if (in.readableBytes() < STRUCTURED_REPLY_HEADER_LENGTH) {
                return false;
            }
            in.skipBytes(4);
            flags = in.readUnsignedShort();
            type = in.readUnsignedShort();
            cookie = in.readLong();
            long n = in.readUnsignedInt();
            checkLength(n);
            length = (int) n;
            state = State.CHUNK_PAYLOAD;
            return true;
        }
        throw new NbdProtocolException("bad reply magic 0x" + Integer.toHexString(magic));
    }

    private void checkLength(long n) {
        if (n > maxChunk) {
            throw new NbdProtocolException("reply payload of " + n + " bytes (expected: <= " + maxChunk + ")");
        }
    }

    private boolean decodeSimpleData(ByteBuf in, List<Object> out) {
        if (in.readableBytes() < length) {
            return false;
        }
        state = State.HEADER;
        out.add(new NbdSimpleReply(cookie, error, in.readRetainedSlice(length)));
        return true;
    }

    private boolean decodeChunkPayload(ByteBuf in, List<Object> out) {
        if (in.readableBytes() < length) {
            return false;
        }
        state = State.HEADER;
        if (type == REPLY_TYPE_OFFSET_DATA) {
            if (length < 9) {
                throw new NbdProtocolException("OFFSET_DATA chunk of " + length + " bytes (expected: >= 9)");
            }
            long offset = in.readLong();
            out.add(NbdStructuredReply.offsetData(cookie, offset, in.readRetainedSlice(length - 8),
                    (flags & REPLY_FLAG_DONE) != 0));
            return true;
        }
        out.add(new NbdStructuredReply(flags, type, cookie, in.readRetainedSlice(length)));
        return true;
    }
}
