package dev.rbd.protocol.codec;

import static dev.rbd.protocol.NbdConstants.IHAVEOPT;

import dev.rbd.protocol.ClientFlags;
import dev.rbd.protocol.OptionRequest;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.MessageToByteEncoder;

/** Client side of the handshake: the client flags (u32), then options (IHAVEOPT, option, length, data). */
public final class ClientHandshakeEncoder extends MessageToByteEncoder<Object> {
    @Override
    public boolean acceptOutboundMessage(Object msg) {
        return msg instanceof ClientFlags || msg instanceof OptionRequest;
    }

    @Override
    protected void encode(ChannelHandlerContext ctx, Object msg, ByteBuf out) {
        if (msg instanceof ClientFlags f) {
            out.writeInt(f.flags());
        } else {
            OptionRequest o = (OptionRequest) msg;
            ByteBuf data = o.content();
            out.writeLong(IHAVEOPT).writeInt(o.option()).writeInt(data.readableBytes())
                    .writeBytes(data, data.readerIndex(), data.readableBytes());
        }
    }
}
