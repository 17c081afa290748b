package dev.rbd.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.DefaultByteBufHolder;
import io.netty.buffer.Unpooled;

/** An option reply: magic, option u32, reply type u32, length u32, data. */
public final class OptionReply extends DefaultByteBufHolder {
    private final int option;
    private final int type;

    public OptionReply(int option, int type, ByteBuf data) {
        super(data);
        this.option = option;
        this.type = type;
    }

    public static OptionReply ack(int option) {
        return new OptionReply(option, NbdReplyType.ACK.code(), Unpooled.EMPTY_BUFFER);
    }

    /** An error reply carrying a message for humans, as the spec allows. */
    public static OptionReply error(int option, NbdReplyType type, String message) {
        if (!type.isError()) {
            throw new IllegalArgumentException("type: " + type + " (expected: an error type)");
        }
        return new OptionReply(option, type.code(), NbdString.buffer(message));
    }

    public int option() {
        return option;
    }

    /** The reply type's wire value. */
    public int type() {
        return type;
    }

    /** The reply type, or {@code null} when unknown. */
    public NbdReplyType replyType() {
        return NbdReplyType.fromCode(type);
    }

    @Override
    public OptionReply replace(ByteBuf content) {
        return new OptionReply(option, type, content);
    }

    @Override
    public OptionReply retain() {
        super.retain();
        return this;
    }

    @Override
    public String toString() {
        NbdReplyType t = replyType();
        return "OptionReply(" + NbdOption.describe(option) + ", " + (t != null ? t : "type 0x"
                + Integer.toHexString(type)) + ", length=" + content().readableBytes() + ")";
    }
}
