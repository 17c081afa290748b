package dev.rbd.protocol.codec;

import dev.rbd.protocol.NbdProtocolException;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;
import java.util.List;

/**
 * A decoder of the peer's bytes that stops at the first stream corruption. Once {@link #decodeMessages} has thrown
 * {@link NbdProtocolException} the connection is closing, and every later byte is skipped: also the ones
 * {@code ByteToMessageDecoder} hands over once more when the channel closes, so nothing behind the corruption ever
 * comes out as a message (a request that could still be dispatched, a reply that could complete a READ).
 */
abstract class StopAtCorruptionDecoder extends ByteToMessageDecoder {
    private boolean corrupt;

    @Override
    protected final void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        if (corrupt) {
            in.skipBytes(in.readableBytes());
            return;
        }
        try {
            decodeMessages(ctx, in, out);
        } catch (NbdProtocolException e) {
            corrupt = true;
            in.skipBytes(in.readableBytes());
            throw e;
        }
    }

    /** Decodes what {@code in} holds, as {@code ByteToMessageDecoder.decode}; throws on stream corruption. */
    protected abstract void decodeMessages(ChannelHandlerContext ctx, ByteBuf in, List<Object> out);

    /** Whether the stream was found corrupt: nothing more is decoded. */
    final boolean corrupt() {
        return corrupt;
    }
}
