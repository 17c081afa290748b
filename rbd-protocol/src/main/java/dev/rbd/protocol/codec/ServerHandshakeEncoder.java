package dev.rbd.protocol.codec;

import static dev.rbd.protocol.NbdConstants.EXPORT_NAME_ZEROES;
import static dev.rbd.protocol.NbdConstants.IHAVEOPT;
import static dev.rbd.protocol.NbdConstants.NBDMAGIC;
import static dev.rbd.protocol.NbdConstants.OPTION_REPLY_MAGIC;

import dev.rbd.protocol.ExportNameReply;
import dev.rbd.protocol.OptionReply;
import dev.rbd.protocol.ServerGreeting;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.MessageToByteEncoder;

/**
 * Server side of the handshake: the greeting, option replies, and the EXPORT_NAME answer.
 *
 * <pre>
 * greeting:     NBDMAGIC u64, IHAVEOPT u64, handshake flags u16
 * option reply: 0x3e889045565a9 u64, option u32, reply type u32, length u32, data
 * export name:  size u64, transmission flags u16, 124 zero bytes (unless NO_ZEROES)
 * </pre>
 */
public final class ServerHandshakeEncoder extends MessageToByteEncoder<Object> {
    @Override
    public boolean acceptOutboundMessage(Object msg) {
        return msg instanceof ServerGreeting || msg instanceof OptionReply || msg instanceof ExportNameReply;
    }

    @Override
    protected void encode(ChannelHandlerContext ctx, Object msg, ByteBuf out) {
        if (msg instanceof ServerGreeting g) {
            out.writeLong(NBDMAGIC).writeLong(IHAVEOPT).writeShort(g.handshakeFlags());
        } else if (msg instanceof OptionReply r) {
            ByteBuf data = r.content();
            out.writeLong(OPTION_REPLY_MAGIC).writeInt(r.option()).writeInt(r.type()).writeInt(data.readableBytes())
                    .writeBytes(data, data.readerIndex(), data.readableBytes());
        } else {
            ExportNameReply e = (ExportNameReply) msg;
            out.writeLong(e.size()).writeShort(e.transmissionFlags());
            if (!e.noZeroes()) {
                out.writeZero(EXPORT_NAME_ZEROES);
            }
        }
    }
}
