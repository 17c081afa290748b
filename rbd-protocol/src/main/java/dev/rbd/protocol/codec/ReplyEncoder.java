package dev.rbd.protocol.codec;

import static dev.rbd.protocol.NbdConstants.REPLY_TYPE_OFFSET_DATA;
import static dev.rbd.protocol.NbdConstants.SIMPLE_REPLY_HEADER_LENGTH;
import static dev.rbd.protocol.NbdConstants.SIMPLE_REPLY_MAGIC;
import static dev.rbd.protocol.NbdConstants.STRUCTURED_REPLY_HEADER_LENGTH;
import static dev.rbd.protocol.NbdConstants.STRUCTURED_REPLY_MAGIC;

import dev.rbd.protocol.NbdSimpleReply;
import dev.rbd.protocol.NbdStructuredReply;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.MessageToMessageEncoder;
import java.util.List;

/**
 * Server side: encodes simple replies and structured reply chunks as a small header buffer followed by the
 * message's own payload buffer, so read data goes to the socket without a copy (gathering write).
 *
 * <pre>
 * simple:     magic u32 (0x67446698), error u32, cookie u64, [data]
 * structured: magic u32 (0x668e33ef), flags u16, type u16, cookie u64, length u32, payload
 *             (OFFSET_DATA payload: offset u64, data; the offset goes into the header buffer)
 * </pre>
 */
public final class ReplyEncoder extends MessageToMessageEncoder<Object> {
    public ReplyEncoder() {
        super(Object.class);
    }

    @Override
    public boolean acceptOutboundMessage(Object msg) {
        return msg instanceof NbdSimpleReply || msg instanceof NbdStructuredReply;
    }

    @Override
    protected void encode(ChannelHandlerContext ctx, Object msg, List<Object> out) {
        if (msg instanceof NbdSimpleReply r) {
            ByteBuf header = ctx.alloc().ioBuffer(SIMPLE_REPLY_HEADER_LENGTH);
            header.writeInt(SIMPLE_REPLY_MAGIC).writeInt(r.error()).writeLong(r.cookie());
            out.add(header);
            addPayload(r.content(), out);
        } else {
            NbdStructuredReply r = (NbdStructuredReply) msg;
            boolean offsetData = r.type() == REPLY_TYPE_OFFSET_DATA;
            ByteBuf header = ctx.alloc().ioBuffer(STRUCTURED_REPLY_HEADER_LENGTH + (offsetData ? 8 : 0));
            header.writeInt(STRUCTURED_REPLY_MAGIC).writeShort(r.flags()).writeShort(r.type()).writeLong(r.cookie())
                    .writeInt(r.payloadLength());
            if (offsetData) {
                header.writeLong(r.offset());
            }
            out.add(header);
            addPayload(r.content(), out);
        }
    }

    private static void addPayload(ByteBuf payload, List<Object> out) {
        if (payload.isReadable()) {
            out.add(payload.retain());
        }
    }
}
