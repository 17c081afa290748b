package dev.rbd.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.DefaultByteBufHolder;

/**
 * A piece of a streamed WRITE's payload (see {@link NbdRequest#streamedWrite}): the parts of one request follow its
 * header in order, each holding the bytes at {@code position} within the payload, the last one marked.
 */
public final class NbdWritePart extends DefaultByteBufHolder {
    private final long position;
    private final boolean last;

    public NbdWritePart(long position, ByteBuf data, boolean last) {
        super(data);
        this.position = position;
        this.last = last;
    }

    /** Where these bytes start within the request's payload. */
    public long position() {
        return position;
    }

    /** Whether this part ends the payload. */
    public boolean last() {
        return last;
    }

    @Override
    public NbdWritePart replace(ByteBuf content) {
        return new NbdWritePart(position, content, last);
    }

    @Override
    public NbdWritePart retain() {
        super.retain();
        return this;
    }

    @Override
    public NbdWritePart touch(Object hint) {
        super.touch(hint);
        return this;
    }

    @Override
    public String toString() {
        return "NbdWritePart(position=" + position + ", length=" + content().readableBytes() + (last ? ", last" : "")
                + ")";
    }
}
