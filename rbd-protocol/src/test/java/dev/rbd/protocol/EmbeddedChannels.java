package dev.rbd.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.ChannelHandler;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.util.ReferenceCountUtil;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Opens the {@link EmbeddedChannel}s a codec test asks for and, after the test, checks that each one
 * {@code finish()}es with nothing left in it, so no test can forget to.
 *
 * <p>Register it on a field, {@code @RegisterExtension final EmbeddedChannels channels = new EmbeddedChannels();},
 * next to the class's {@code @ExtendWith(NettyLeakCheck.class)}: field extensions are registered after class ones,
 * so this check runs (and releases every leftover message it names) before the leak check looks for buffers
 * nobody released. Channels are finished in the order they were opened; a channel finished by the test already
 * is checked again harmlessly, since {@code finish()} on a closed channel only reports what is still queued.
 */
public final class EmbeddedChannels implements AfterEachCallback {
    private final List<EmbeddedChannel> channels = new ArrayList<>();
    private final List<Runnable> afterwards = new ArrayList<>();

    /** A new channel with these handlers, checked after the test. */
    public EmbeddedChannel open(ChannelHandler... handlers) {
        return track(new EmbeddedChannel(handlers));
    }

    /** Checks a channel made elsewhere (a benchmark's) after the test like one this fixture opened. */
    public EmbeddedChannel track(EmbeddedChannel channel) {
        channels.add(channel);
        return channel;
    }

    /** Runs {@code cleanup} after the channels are checked, whether the test or the check failed or not. */
    public void afterwards(Runnable cleanup) {
        afterwards.add(cleanup);
    }

    @Override
    public void afterEach(ExtensionContext context) throws Exception {
        List<String> leftovers = new ArrayList<>();
        Throwable failure = null;
        for (int i = 0; i < channels.size(); i++) {
            EmbeddedChannel channel = channels.get(i);
            List<String> handlers = handlerNames(channel); // before closing, which empties the pipeline
            try {
                String left = finish(channel);
                if (left != null) {
                    leftovers.add("channel " + (i + 1) + " " + handlers + " " + left);
                }
            } catch (Throwable t) {
                failure = addTo(failure, t); // an exception the channel was still holding
            }
        }
        for (Runnable cleanup : afterwards) {
            try {
                cleanup.run();
            } catch (Throwable t) {
                failure = addTo(failure, t);
            }
        }
        channels.clear();
        afterwards.clear();
        if (!leftovers.isEmpty()) {
            failure = addTo(failure, new AssertionError("expected finish() to leave nothing, but "
                    + String.join("; ", leftovers)));
        }
        if (failure instanceof Exception e) {
            throw e;
        } else if (failure != null) {
            throw (Error) failure;
        }
    }

    /** Finishes the channel and releases what it still held; describes that, or returns null if it held nothing. */
    private static String finish(EmbeddedChannel channel) {
        try {
            if (!channel.finish()) {
                return null;
            }
            return "was left with inbound " + describe(channel.inboundMessages())
                    + " and outbound " + describe(channel.outboundMessages());
        } finally {
            releaseAll(channel.inboundMessages());
            releaseAll(channel.outboundMessages());
        }
    }

    private static List<String> handlerNames(EmbeddedChannel channel) {
        List<String> names = new ArrayList<>(channel.pipeline().names());
        names.removeIf(n -> n.startsWith("DefaultChannelPipeline$TailContext"));
        return names;
    }

    private static List<String> describe(Queue<Object> messages) {
        List<String> out = new ArrayList<>();
        for (Object m : messages) {
            if (m instanceof ByteBuf b && b.refCnt() > 0) {
                out.add("ByteBuf[" + ByteBufUtil.hexDump(b) + "]");
            } else {
                out.add(String.valueOf(m)); // messages are records or holders with a toString of their fields
            }
        }
        return out;
    }

    private static void releaseAll(Queue<Object> messages) {
        for (Object m; (m = messages.poll()) != null; ) {
            ReferenceCountUtil.release(m);
        }
    }

    private static Throwable addTo(Throwable first, Throwable next) {
        if (first == null) {
            return next;
        }
        first.addSuppressed(next);
        return first;
    }
}
