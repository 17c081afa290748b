package dev.rbd.protocol.codec;

import io.netty.channel.CombinedChannelDuplexHandler;

/** Server side of the transmission phase: requests in, replies out. */
public final class ServerTransmissionCodec extends CombinedChannelDuplexHandler<RequestDecoder, ReplyEncoder> {
    public ServerTransmissionCodec(int maxPayload) {
        super(new RequestDecoder(maxPayload), new ReplyEncoder());
    }

    /** See {@link RequestDecoder#midRequest()}. */
    public boolean midRequest() {
        return inboundHandler().midRequest();
    }
}
