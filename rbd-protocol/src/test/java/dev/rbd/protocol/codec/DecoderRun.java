package dev.rbd.protocol.codec;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rbd.protocol.FuzzInput;
import dev.rbd.protocol.NbdProtocolException;
import dev.rbd.protocol.TrackingAllocator;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufHolder;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandler;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.util.ReferenceCountUtil;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * One decoder fed a fuzzer's bytes on an {@code EmbeddedChannel}, in reads of a given size, then closed, as a
 * connection would be; and the checks the decoder harnesses share: the messages that came out are exactly those a
 * plain reading of the bytes expects (the harness's model of the wire layout), the only error is the
 * {@link NbdProtocolException} the model expects at the point it expects it, nothing comes out after it, and every
 * buffer allocated on the way was released once the messages were.
 */
final class DecoderRun {
    /** A message the model expects: its header fields as text, and its content as a range of the wire bytes. */
    record Expected(String header, int from, int length) {
    }

    /** What a model makes of the wire bytes: the messages, and whether the bytes are corrupt after the last one. */
    record Model(List<Expected> messages, boolean corrupt) {
    }

    private DecoderRun() {
    }

    /**
     * Feeds {@code wire} (the input's bytes, with its filler where the harness uses one) to {@code decoder} in the
     * input's reads, closes the channel and checks the outcome against {@code model};
     * {@code header} renders a decoded message the way the model renders an expected one.
     */
    static void check(ChannelHandler decoder, FuzzInput in, byte[] wire, Model model,
                      Function<Object, String> header) {
        TrackingAllocator alloc = new TrackingAllocator();
        EmbeddedChannel ch = new EmbeddedChannel();
        ch.config().setAllocator(alloc);
        ch.pipeline().addLast(decoder);
        List<Object> decoded = new ArrayList<>();
        Throwable error = null;
        try {
            for (int from = 0, n; from < wire.length && error == null; from += n) {
                n = Math.min(in.readAt(from), wire.length - from);
                try {
                    ch.writeInbound(alloc.copyOf(wire, from, n));
                } catch (RuntimeException e) {
                    error = e;
                }
                drain(ch, decoded);
            }
            int beforeClose = decoded.size();
            try {
                ch.finish();
            } catch (RuntimeException e) {
                if (error == null) {
                    error = e;
                }
            }
            drain(ch, decoded);
            if (model.corrupt()) {
                assertThat(error).as("the error the bytes call for").isInstanceOf(NbdProtocolException.class);
            } else if (error != null) {
                throw new AssertionError("no error expected", error);
            }
            assertThat(decoded.size()).as("messages decoded at close").isEqualTo(beforeClose);
            List<String> got = new ArrayList<>();
            for (Object m : decoded) {
                got.add(header.apply(m));
            }
            List<String> want = new ArrayList<>();
            for (Expected e : model.messages()) {
                want.add(e.header());
            }
            assertThat(got).as("decoded messages").containsExactlyElementsOf(want);
            for (int i = 0; i < decoded.size(); i++) {
                Expected e = model.messages().get(i);
                ByteBuf content = decoded.get(i) instanceof ByteBufHolder h ? h.content() : null;
                int length = content == null ? 0 : content.readableBytes();
                assertThat(length).as("content length of %s", got.get(i)).isEqualTo(e.length());
                if (length > 0 && !ByteBufUtil.equals(content, content.readerIndex(),
                        Unpooled.wrappedBuffer(wire), e.from(), length)) {
                    throw new AssertionError("content of " + got.get(i) + " differs from wire bytes " + e.from()
                            + ".." + (e.from() + length));
                }
            }
        } finally {
            for (Object m : decoded) {
                ReferenceCountUtil.release(m);
            }
            ch.finishAndReleaseAll();
        }
        assertThat(alloc.unreleased()).as("buffers not released").isEmpty();
    }

    private static void drain(EmbeddedChannel ch, List<Object> into) {
        for (Object m; (m = ch.readInbound()) != null; ) {
            into.add(m);
        }
    }
}
