package dev.rbd.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.DefaultByteBufHolder;
import io.netty.buffer.Unpooled;

/** A simple reply: error value and cookie, followed by the data of a successful READ. */
public final class NbdSimpleReply extends DefaultByteBufHolder {
    private final int error;
    private final long cookie;

    public NbdSimpleReply(long cookie, int error, ByteBuf data) {
        super(data);
        this.cookie = cookie;
        this.error = error;
    }

    public static NbdSimpleReply ok(long cookie) {
        return new NbdSimpleReply(cookie, 0, Unpooled.EMPTY_BUFFER);
    }

    public static NbdSimpleReply error(long cookie, NbdError error) {
        return new NbdSimpleReply(cookie, error.code(), Unpooled.EMPTY_BUFFER);
    }

    public long cookie() {
        return cookie;
    }

    /** The wire error value; 0 is success. */
    public int error() {
        return error;
    }

    @Override
    public NbdSimpleReply replace(ByteBuf content) {
        return new NbdSimpleReply(cookie, error, content);
    }

    @Override
    public NbdSimpleReply retain() {
        super.retain();
        return this;
    }

    @Override
    public String toString() {
        return "NbdSimpleReply(cookie=" + Long.toUnsignedString(cookie) + ", error=" + error + ", data="
                + content().readableBytes() + ")";
    }
}
