package dev.rbd.protocol.jmh;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufHolder;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.netty.util.ReferenceCountUtil;
import java.util.ArrayList;
import java.util.List;
import org.openjdk.jmh.infra.Blackhole;

/**
 * The end of a benchmark's pipeline: takes what the codec passes on (decoded messages inbound, encoded buffers
 * outbound), hands it to the {@link Blackhole} and releases it, as the server's handler and the socket would. It
 * stands in for {@code EmbeddedChannel}'s message queues and outbound buffer, so a benchmark measures the codec and
 * not the test channel. A keeping sink holds on to what it got instead: for the tests to look at, or to stand for
 * requests in flight.
 */
@ChannelHandler.Sharable // by the client benchmark's two pipelines; all on one thread
final class Sink extends ChannelDuplexHandler {
    private final Blackhole blackhole;
    private final List<Object> kept;
    private long messages;
    private long bytes;

    private Sink(Blackhole blackhole, List<Object> kept) {
        this.blackhole = blackhole;
        this.kept = kept;
    }

    static Sink releasing(Blackhole blackhole) {
        return new Sink(blackhole, null);
    }

    static Sink keeping(Blackhole blackhole) {
        return new Sink(blackhole, new ArrayList<>());
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        take(msg);
    }

    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
        take(msg);
    }

    private void take(Object msg) {
        messages++;
        if (msg instanceof ByteBuf b) {
            bytes += b.readableBytes();
        } else if (msg instanceof ByteBufHolder h) {
            bytes += h.content().readableBytes();
        }
        blackhole.consume(msg);
        if (kept != null) {
            kept.add(msg);
        } else {
            ReferenceCountUtil.release(msg);
        }
    }

    /** Messages taken so far. */
    long messages() {
        return messages;
    }

    /** Readable bytes of the buffers taken so far (for a decoded message: of its payload). */
    long bytes() {
        return bytes;
    }

    /** What a keeping sink got, in order; the caller releases it. */
    List<Object> takeKept() {
        List<Object> out = new ArrayList<>(kept);
        kept.clear();
        return out;
    }

    /** What a keeping sink holds now (not a copy). */
    List<Object> kept() {
        return kept;
    }

    /** Releases and forgets what a keeping sink holds. */
    void releaseKept() {
        for (int i = 0; i < kept.size(); i++) {
            ReferenceCountUtil.release(kept.get(i));
        }
        kept.clear();
    }
}
