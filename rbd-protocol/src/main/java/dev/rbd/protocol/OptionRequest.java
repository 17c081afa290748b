package dev.rbd.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.DefaultByteBufHolder;

/** A client option during the handshake: IHAVEOPT, option u32, data length u32, data. */
public final class OptionRequest extends DefaultByteBufHolder {
    private final int option;

    public OptionRequest(int option, ByteBuf data) {
        super(data);
        this.option = option;
    }

    /** The option's wire value. */
    public int option() {
        return option;
    }

    @Override
    public OptionRequest replace(ByteBuf content) {
        return new OptionRequest(option, content);
    }

    @Override
    public OptionRequest retain() {
        super.retain();
        return this;
    }

    @Override
    public String toString() {
        return "OptionRequest(" + NbdOption.describe(option) + ", length=" + content().readableBytes() + ")";
    }
}
