package dev.rbd.protocol.codec;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.AbstractByteBufAllocator;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.UnpooledDirectByteBuf;
import io.netty.buffer.UnpooledHeapByteBuf;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.ReferenceCounted;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/** Hex fixtures and {@link EmbeddedChannel} plumbing shared by the codec tests. */
final class CodecTestSupport {
    private CodecTestSupport() {
    }

    /** Concatenates hex fields; write one field per line with a comment naming it. */
    static String hex(String... fields) {
        return String.join("", fields).toLowerCase(Locale.ROOT);
    }

    /** {@code n} bytes of a recognisable pattern, as hex. */
    static String pattern(int n) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) (i * 7 + 1);
        }
        return ByteBufUtil.hexDump(b);
    }

    /**
     * A leak-tracked buffer holding the fixture. (Netty tracks buffers of the default allocator; {@code
     * Unpooled.buffer()} heap buffers are never tracked, so tests allocate through the default allocator.)
     */
    static ByteBuf buf(String hex) {
        byte[] b = ByteBufUtil.decodeHexDump(hex);
        return ByteBufAllocator.DEFAULT.heapBuffer(b.length).writeBytes(b);
    }

    static String hexOf(ByteBuf b) {
        return ByteBufUtil.hexDump(b);
    }

    /** Writes the whole fixture in one read. */
    static boolean feedWhole(EmbeddedChannel ch, String hex) {
        return ch.writeInbound(buf(hex));
    }

    /**
     * Writes the fixture one byte per read and returns, for each message that came out, how many bytes had been
     * written when it did (so a single 28-byte message fed this way yields {@code [28]}).
     */
    static List<Integer> feedByteByByte(EmbeddedChannel ch, String hex) {
        byte[] b = ByteBufUtil.decodeHexDump(hex);
        List<Integer> completedAt = new ArrayList<>();
        for (int i = 0; i < b.length; i++) {
            int before = ch.inboundMessages().size();
            ch.writeInbound(ByteBufAllocator.DEFAULT.heapBuffer(1).writeByte(b[i]));
            for (int k = before; k < ch.inboundMessages().size(); k++) {
                completedAt.add(i + 1);
            }
        }
        return completedAt;
    }

    /** Writes the fixture in pieces cut at the given byte offsets (ascending). */
    static void feedSplit(EmbeddedChannel ch, String hex, int... cuts) {
        byte[] b = ByteBufUtil.decodeHexDump(hex);
        int from = 0;
        for (int cut : cuts) {
            ch.writeInbound(ByteBufAllocator.DEFAULT.heapBuffer(cut - from).writeBytes(b, from, cut - from));
            from = cut;
        }
        ch.writeInbound(ByteBufAllocator.DEFAULT.heapBuffer(b.length - from).writeBytes(b, from, b.length - from));
    }

    static List<Object> drainInbound(EmbeddedChannel ch) {
        List<Object> out = new ArrayList<>();
        for (Object m; (m = ch.readInbound()) != null; ) {
            out.add(m);
        }
        return out;
    }

    static List<ByteBuf> drainOutbound(EmbeddedChannel ch) {
        List<ByteBuf> out = new ArrayList<>();
        for (Object m; (m = ch.readOutbound()) != null; ) {
            out.add((ByteBuf) m);
        }
        return out;
    }

    /** All outbound bytes as one hex string; releases the buffers. */
    static String drainOutboundHex(EmbeddedChannel ch) {
        StringBuilder sb = new StringBuilder();
        for (ByteBuf b : drainOutbound(ch)) {
            try {
                sb.append(hexOf(b));
            } finally {
                b.release();
            }
        }
        return sb.toString();
    }

    /** Moves everything {@code from} wrote into {@code to} as separate reads, as a socket could deliver it. */
    static void pump(EmbeddedChannel from, EmbeddedChannel to) {
        for (ByteBuf b : drainOutbound(from)) {
            to.writeInbound(b);
        }
    }

    /**
     * Feeds the fixture as one read and asserts that the message decoded from it is what keeps that read alive (its
     * data is a retained slice, not a copy) and that releasing the message frees the read.
     */
    static void assertMessageHoldsTheInputUntilReleased(EmbeddedChannel ch, String hex) {
        ByteBuf input = buf(hex);
        ch.writeInbound(input);
        ReferenceCounted message = ch.readInbound();
        assertThat(input.refCnt()).isEqualTo(1);
        assertThat(message.release()).isTrue();
        assertThat(input.refCnt()).isZero();
    }

    /** Asserts that an encoder hands a buffer it was given on as it is: the same buffer, not re-encoded. */
    static void assertPassesThroughUntouched(EmbeddedChannel ch, String hex) {
        ByteBuf raw = buf(hex);
        ch.writeOutbound(raw);
        ByteBuf out = ch.readOutbound();
        try {
            assertThat(out).isSameAs(raw);
        } finally {
            ReferenceCountUtil.release(out);
        }
    }

    static void release(Iterable<?> messages) {
        for (Object m : messages) {
            ReferenceCountUtil.release(m);
        }
    }

    /** An allocator that remembers the largest capacity anyone asked it for. */
    static final class RecordingAllocator extends AbstractByteBufAllocator {
        private int largestRequest;

        RecordingAllocator() {
            super(false);
        }

        int largestRequest() {
            return largestRequest;
        }

        private void record(int initialCapacity) {
            largestRequest = Math.max(largestRequest, initialCapacity);
        }

        @Override
        protected ByteBuf newHeapBuffer(int initialCapacity, int maxCapacity) {
            record(initialCapacity);
            return toLeakAwareBuffer(new UnpooledHeapByteBuf(this, initialCapacity, maxCapacity));
        }

        @Override
        protected ByteBuf newDirectBuffer(int initialCapacity, int maxCapacity) {
            record(initialCapacity);
            return toLeakAwareBuffer(new UnpooledDirectByteBuf(this, initialCapacity, maxCapacity));
        }

        @Override
        public boolean isDirectBufferPooled() {
            return false;
        }
    }
}
