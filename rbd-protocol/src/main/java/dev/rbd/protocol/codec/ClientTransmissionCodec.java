package dev.rbd.protocol.codec;

import io.netty.channel.CombinedChannelDuplexHandler;

/** Client side of the transmission phase: replies in, requests out. */
public final class ClientTransmissionCodec extends CombinedChannelDuplexHandler<ReplyDecoder, RequestEncoder> {
    public ClientTransmissionCodec(ReplyDecoder.ReadLengths readLengths, int maxChunk) {
        super(new ReplyDecoder(readLengths, maxChunk), new RequestEncoder());
    }
}
