package dev.rbd.protocol.codec;

import static dev.rbd.protocol.NbdConstants.REQUEST_HEADER_LENGTH;
import static dev.rbd.protocol.NbdConstants.REQUEST_MAGIC;

import dev.rbd.protocol.NbdRequest;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.MessageToMessageEncoder;
import java.util.List;

/** Client side: encodes a request header, followed by the WRITE payload buffer as it is (no copy). */
public final class RequestEncoder extends MessageToMessageEncoder<NbdRequest> {
    public RequestEncoder() {
        super(NbdRequest.class);
    }

    @Override
    protected void encode(ChannelHandlerContext ctx, NbdRequest r, List<Object> out) {
        ByteBuf header = ctx.alloc().ioBuffer(REQUEST_HEADER_LENGTH);
        header.writeInt(REQUEST_MAGIC).writeShort(r.flags()).writeShort(r.type()).writeLong(r.cookie())
                .writeLong(r.offset()).writeInt((int) r.length());
        out.add(header);
        if (r.content().isReadable()) {
            out.add(r.content().retain());
        }
    }
}
