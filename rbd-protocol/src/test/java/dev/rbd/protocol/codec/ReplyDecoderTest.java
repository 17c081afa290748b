package dev.rbd.protocol.codec;

import static dev.rbd.protocol.codec.CodecTestSupport.assertMessageHoldsTheInputUntilReleased;
import static dev.rbd.protocol.codec.CodecTestSupport.buf;
import static dev.rbd.protocol.codec.CodecTestSupport.drainInbound;
import static dev.rbd.protocol.codec.CodecTestSupport.feedByteByByte;
import static dev.rbd.protocol.codec.CodecTestSupport.feedSplit;
import static dev.rbd.protocol.codec.CodecTestSupport.feedWhole;
import static dev.rbd.protocol.codec.CodecTestSupport.hex;
import static dev.rbd.protocol.codec.CodecTestSupport.hexOf;
import static dev.rbd.protocol.codec.CodecTestSupport.pattern;
import static dev.rbd.protocol.codec.CodecTestSupport.release;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.rbd.protocol.EmbeddedChannels;
import dev.rbd.protocol.NbdConstants;
import dev.rbd.protocol.NbdError;
import dev.rbd.protocol.NbdProtocolException;
import dev.rbd.protocol.NbdSimpleReply;
import dev.rbd.protocol.NbdStructuredReply;
import dev.rbd.protocol.NettyLeakCheck;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.DecoderException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.RegisterExtension;

@ExtendWith(NettyLeakCheck.class)
class ReplyDecoderTest {
    private static final int MAX_CHUNK = 64;
    private static final long READ_COOKIE = 0x8000000000000001L;

    /** Successful simple reply to the pending 8-byte READ. */
    private static final String SIMPLE_READ_8 = hex(
            "67446698",             // magic NBD_SIMPLE_REPLY_MAGIC
            "00000000",             // error: none
            "8000000000000001",     // cookie: the pending READ (top bit set)
            pattern(8));            // data: the READ's 8 bytes

    private static final String SIMPLE_OK_UNKNOWN = hex(
            "67446698",             // magic
            "00000000",             // error: none
            "0000000000000063");    // cookie: 99, not a pending READ

    private static final String SIMPLE_EIO_FOR_READ = hex(
            "67446698",             // magic
            "00000005",             // error: EIO
            "8000000000000001");    // cookie: the pending READ, but errors carry no data

    private static final String CHUNK_OFFSET_DATA = hex(
            "668e33ef",             // magic NBD_STRUCTURED_REPLY_MAGIC
            "0000",                 // flags: not DONE
            "0001",                 // type: OFFSET_DATA
            "fedcba9876543210",     // cookie: top bit set
            "0000000c",             // length: 12
            "ffffffffffff0000",     // offset
            "01020304");            // data

    private static final String CHUNK_ERROR = hex(
            "668e33ef",             // magic
            "0001",                 // flags: DONE
            "8001",                 // type: ERROR
            "0000000000000002",     // cookie
            "0000000b",             // length: 11
            "0000001c",             // error: ENOSPC
            "0005",                 // message length
            "6e6f706521");          // "nope!"

    private static final String CHUNK_DONE = hex(
            "668e33ef",             // magic
            "ffff",                 // flags: DONE and every unknown bit
            "0000",                 // type: NONE
            "0000000000000003",     // cookie
            "00000000");            // length: 0

    @RegisterExtension
    final EmbeddedChannels channels = new EmbeddedChannels();

    private final Map<Long, Long> pendingReads = new HashMap<>();
    private final List<Long> lookups = new ArrayList<>();

    @BeforeEach
    void registerPendingRead() {
        pendingReads.put(READ_COOKIE, 8L);
    }

    private EmbeddedChannel channel() {
        return channels.open(new ReplyDecoder(cookie -> {
            lookups.add(cookie);
            return pendingReads.getOrDefault(cookie, -1L);
        }, MAX_CHUNK));
    }

    private static void assertSimple(Object msg, long cookie, int error, String dataHex) {
        assertThat(msg).isInstanceOf(NbdSimpleReply.class);
        NbdSimpleReply r = (NbdSimpleReply) msg;
        assertThat(r.cookie()).as("cookie").isEqualTo(cookie);
        assertThat(r.error()).as("error").isEqualTo(error);
        assertThat(hexOf(r.content())).as("data").isEqualTo(dataHex);
    }

    private static void assertChunk(Object msg, int flags, int type, long cookie, String payloadHex) {
        assertThat(msg).isInstanceOf(NbdStructuredReply.class);
        NbdStructuredReply r = (NbdStructuredReply) msg;
        assertThat(r.flags()).as("flags").isEqualTo(flags);
        assertThat(r.type()).as("type").isEqualTo(type);
        assertThat(r.cookie()).as("cookie").isEqualTo(cookie);
        assertThat(r.payloadHex()).as("payload").isEqualTo(payloadHex);
    }

    /** An OFFSET_DATA chunk: the offset is taken out of the payload, the content is the data alone. */
    private static void assertDataChunk(Object msg, boolean done, long cookie, long offset, String dataHex) {
        assertThat(msg).isInstanceOf(NbdStructuredReply.class);
        NbdStructuredReply r = (NbdStructuredReply) msg;
        assertThat(r.type()).as("type").isEqualTo(NbdConstants.REPLY_TYPE_OFFSET_DATA);
        assertThat(r.isDone()).as("done").isEqualTo(done);
        assertThat(r.cookie()).as("cookie").isEqualTo(cookie);
        assertThat(r.offset()).as("offset").isEqualTo(offset);
        assertThat(r.payloadHex()).as("data").isEqualTo(dataHex);
        assertThat(r.payloadLength()).as("payload length").isEqualTo(8 + dataHex.length() / 2);
    }

    @Test
    void attachesDataToSimpleReplyForPendingRead() {
        EmbeddedChannel ch = channel();
        assertThat(feedWhole(ch, SIMPLE_READ_8)).isTrue();
        NbdSimpleReply r = ch.readInbound();
        try {
            assertSimple(r, READ_COOKIE, 0, pattern(8));
        } finally {
            r.release();
        }
        assertThat(lookups).containsExactly(READ_COOKIE);
    }

    @Test
    void decodesSimpleReplyFedOneByteAtATimeLikeWholeFeed() {
        EmbeddedChannel whole = channel();
        feedWhole(whole, SIMPLE_READ_8);
        NbdSimpleReply expected = whole.readInbound();
        lookups.clear();

        EmbeddedChannel ch = channel();
        assertThat(feedByteByByte(ch, SIMPLE_READ_8)).containsExactly(24);
        NbdSimpleReply r = ch.readInbound();
        try {
            assertThat(r.cookie()).isEqualTo(expected.cookie());
            assertThat(r.error()).isEqualTo(expected.error());
            assertThat(ByteBufUtil.equals(r.content(), expected.content())).isTrue();
        } finally {
            r.release();
            expected.release();
        }
        // the READ's length is asked for once, not once per byte
        assertThat(lookups).containsExactly(READ_COOKIE);
    }

    @Test
    void decodesSimpleReplySplitAcrossReads() {
        EmbeddedChannel ch = channel();
        // inside the magic, inside the cookie, right after the header, inside the data
        feedSplit(ch, SIMPLE_READ_8, 3, 10, 16, 20);
        NbdSimpleReply r = ch.readInbound();
        try {
            assertSimple(r, READ_COOKIE, 0, pattern(8));
        } finally {
            r.release();
        }
        assertThat(lookups).containsExactly(READ_COOKIE);
    }

    @Test
    void readDataIsARetainedSliceFreedByReleasingTheReply() {
        assertMessageHoldsTheInputUntilReleased(channel(), SIMPLE_READ_8);
    }

    @Test
    void simpleReplyWithUnknownCookieCarriesNoDataAndNextReplyFollows() {
        EmbeddedChannel ch = channel();
        assertThat(feedWhole(ch, hex(SIMPLE_OK_UNKNOWN, SIMPLE_READ_8))).isTrue();
        List<Object> out = drainInbound(ch);
        try {
            assertThat(out).hasSize(2);
            assertSimple(out.get(0), 99, 0, "");
            assertSimple(out.get(1), READ_COOKIE, 0, pattern(8));
        } finally {
            release(out);
        }
        assertThat(lookups).containsExactly(99L, READ_COOKIE);
    }

    @Test
    void errorSimpleReplyNeverConsumesDataEvenForPendingRead() {
        EmbeddedChannel ch = channel();
        assertThat(feedWhole(ch, hex(SIMPLE_EIO_FOR_READ, SIMPLE_READ_8))).isTrue();
        List<Object> out = drainInbound(ch);
        try {
            assertThat(out).hasSize(2);
            assertSimple(out.get(0), READ_COOKIE, NbdError.EIO.code(), "");
            assertSimple(out.get(1), READ_COOKIE, 0, pattern(8));
        } finally {
            release(out);
        }
        // the error reply did not even ask for a length
        assertThat(lookups).containsExactly(READ_COOKIE);
    }

    @Test
    void errorSimpleReplyFedOneByteAtATimeCompletesAtItsHeader() {
        EmbeddedChannel ch = channel();
        assertThat(feedByteByByte(ch, SIMPLE_EIO_FOR_READ)).containsExactly(16);
        NbdSimpleReply r = ch.readInbound();
        try {
            assertSimple(r, READ_COOKIE, 5, "");
        } finally {
            r.release();
        }
        assertThat(lookups).isEmpty();
    }

    @Test
    void simpleReplyForZeroLengthReadCarriesNoData() {
        pendingReads.put(5L, 0L);
        EmbeddedChannel ch = channel();
        assertThat(feedWhole(ch, hex(
                "67446698",             // magic
                "00000000",             // error
                "0000000000000005"))).isTrue(); // cookie: a 0-byte READ
        NbdSimpleReply r = ch.readInbound();
        try {
            assertSimple(r, 5, 0, "");
        } finally {
            r.release();
        }
    }

    @Test
    void acceptsSimpleReplyDataOfExactlyMaxChunk() {
        pendingReads.put(6L, (long) MAX_CHUNK);
        EmbeddedChannel ch = channel();
        assertThat(feedWhole(ch, hex(
                "67446698",             // magic
                "00000000",             // error
                "0000000000000006",     // cookie: a READ of MAX_CHUNK bytes
                pattern(MAX_CHUNK)))).isTrue(); // data
        NbdSimpleReply r = ch.readInbound();
        try {
            assertSimple(r, 6, 0, pattern(MAX_CHUNK));
        } finally {
            r.release();
        }
    }

    @Test
    void rejectsSimpleReplyWhosePendingReadIsLongerThanMaxChunk() {
        pendingReads.put(6L, MAX_CHUNK + 1L);
        EmbeddedChannel ch = channel();
        assertThatThrownBy(() -> feedWhole(ch, hex(
                "67446698",             // magic
                "00000000",             // error
                "0000000000000006")))   // cookie: a READ of MAX_CHUNK + 1 bytes
                .isInstanceOf(NbdProtocolException.class)
                .hasMessageContaining(Integer.toString(MAX_CHUNK + 1));
        assertThat(ch.inboundMessages()).isEmpty();
    }

    @Test
    void decodesStructuredChunkWithEveryField() {
        EmbeddedChannel ch = channel();
        assertThat(feedWhole(ch, CHUNK_OFFSET_DATA)).isTrue();
        NbdStructuredReply r = ch.readInbound();
        try {
            assertDataChunk(r, false, 0xfedcba9876543210L, 0xffffffffffff0000L, "01020304");
            assertThat(r.flags()).isZero();
            assertThat(r.isDone()).isFalse();
            assertThat(r.isError()).isFalse();
        } finally {
            r.release();
        }
        assertThat(lookups).isEmpty();
    }

    @Test
    void decodesStructuredChunkFedOneByteAtATimeLikeWholeFeed() {
        EmbeddedChannel whole = channel();
        feedWhole(whole, CHUNK_OFFSET_DATA);
        NbdStructuredReply expected = whole.readInbound();

        EmbeddedChannel ch = channel();
        assertThat(feedByteByByte(ch, CHUNK_OFFSET_DATA)).containsExactly(32);
        NbdStructuredReply r = ch.readInbound();
        try {
            assertThat(r.flags()).isEqualTo(expected.flags());
            assertThat(r.type()).isEqualTo(expected.type());
            assertThat(r.cookie()).isEqualTo(expected.cookie());
            assertThat(r.offset()).isEqualTo(expected.offset());
            assertThat(ByteBufUtil.equals(r.content(), expected.content())).isTrue();
        } finally {
            r.release();
            expected.release();
        }
    }

    @Test
    void decodesStructuredChunkSplitAcrossReads() {
        EmbeddedChannel ch = channel();
        // inside the magic, between flags and type, inside the length, right after the header, inside the payload
        feedSplit(ch, CHUNK_OFFSET_DATA, 1, 6, 18, 20, 27);
        NbdStructuredReply r = ch.readInbound();
        try {
            assertDataChunk(r, false, 0xfedcba9876543210L, 0xffffffffffff0000L, "01020304");
        } finally {
            r.release();
        }
    }

    @Test
    void decodesErrorChunk() {
        EmbeddedChannel ch = channel();
        assertThat(feedWhole(ch, CHUNK_ERROR)).isTrue();
        NbdStructuredReply r = ch.readInbound();
        try {
            assertChunk(r, NbdConstants.REPLY_FLAG_DONE, NbdConstants.REPLY_TYPE_ERROR, 2,
                    "0000001c" + "0005" + "6e6f706521");
            assertThat(r.isError()).isTrue();
            assertThat(r.isDone()).isTrue();
            assertThat(r.errorCode()).isEqualTo(NbdError.ENOSPC.code());
            assertThat(r.errorMessage()).isEqualTo("nope!");
        } finally {
            r.release();
        }
    }

    @Test
    void decodesZeroLengthChunkWithUnsignedFlags() {
        EmbeddedChannel ch = channel();
        assertThat(feedWhole(ch, CHUNK_DONE)).isTrue();
        NbdStructuredReply r = ch.readInbound();
        try {
            assertChunk(r, 0xffff, NbdConstants.REPLY_TYPE_NONE, 3, "");
            assertThat(r.isDone()).isTrue();
        } finally {
            r.release();
        }
    }

    @Test
    void chunkPayloadIsARetainedSliceFreedByReleasingTheChunk() {
        assertMessageHoldsTheInputUntilReleased(channel(), CHUNK_ERROR);
    }

    @Test
    void decodesSeveralMixedRepliesInOneBuffer() {
        EmbeddedChannel ch = channel();
        assertThat(feedWhole(ch, hex(SIMPLE_READ_8, CHUNK_OFFSET_DATA, SIMPLE_EIO_FOR_READ, CHUNK_ERROR,
                SIMPLE_OK_UNKNOWN, CHUNK_DONE))).isTrue();
        List<Object> out = drainInbound(ch);
        try {
            assertThat(out).hasSize(6);
            assertSimple(out.get(0), READ_COOKIE, 0, pattern(8));
            assertDataChunk(out.get(1), false, 0xfedcba9876543210L, 0xffffffffffff0000L, "01020304");
            assertSimple(out.get(2), READ_COOKIE, 5, "");
            assertChunk(out.get(3), 1, 0x8001, 2, "0000001c00056e6f706521");
            assertSimple(out.get(4), 99, 0, "");
            assertChunk(out.get(5), 0xffff, 0, 3, "");
        } finally {
            release(out);
        }
    }

    @Test
    void decodesSeveralMixedRepliesFedOneByteAtATime() {
        EmbeddedChannel ch = channel();
        assertThat(feedByteByByte(ch, hex(SIMPLE_READ_8, CHUNK_ERROR, SIMPLE_OK_UNKNOWN, CHUNK_DONE)))
                .containsExactly(24, 24 + 31, 24 + 31 + 16, 24 + 31 + 16 + 20);
        List<Object> out = drainInbound(ch);
        try {
            assertSimple(out.get(0), READ_COOKIE, 0, pattern(8));
            assertChunk(out.get(1), 1, 0x8001, 2, "0000001c00056e6f706521");
            assertSimple(out.get(2), 99, 0, "");
            assertChunk(out.get(3), 0xffff, 0, 3, "");
        } finally {
            release(out);
        }
    }

    @Test
    void acceptsChunkOfExactlyMaxChunk() {
        EmbeddedChannel ch = channel();
        assertThat(feedWhole(ch, hex(
                "668e33ef",             // magic
                "0001",                 // flags: DONE
                "0001",                 // type: OFFSET_DATA
                "0000000000000004",     // cookie
                "00000040",             // length: 64 == MAX_CHUNK
                pattern(64)))).isTrue(); // payload: offset (8) + data (56)
        NbdStructuredReply r = ch.readInbound();
        try {
            assertThat(r.payloadLength()).isEqualTo(MAX_CHUNK);
            assertThat(r.offset()).isEqualTo(0x0108_0f16_1d24_2b32L); // the first 8 pattern bytes
            assertThat(r.payloadHex()).isEqualTo(pattern(64).substring(16));
        } finally {
            r.release();
        }
    }

    @Test
    void decodesOffsetDataChunkWithASingleDataByte() {
        EmbeddedChannel ch = channel();
        assertThat(feedWhole(ch, hex(
                "668e33ef",             // magic
                "0001",                 // flags: DONE
                "0001",                 // type: OFFSET_DATA
                "0000000000000008",     // cookie
                "00000009",             // length: 9, the least the spec allows
                "8000000000000000",     // offset: top bit set
                "5a"))).isTrue();       // data
        NbdStructuredReply r = ch.readInbound();
        try {
            assertDataChunk(r, true, 8, 0x8000000000000000L, "5a");
        } finally {
            r.release();
        }
    }

    @Test
    void offsetDataIsARetainedSliceOfTheInputFreedByReleasingTheChunk() {
        assertMessageHoldsTheInputUntilReleased(channel(), CHUNK_OFFSET_DATA);
    }

    @Test
    void rejectsEmptyOffsetDataChunk() {
        EmbeddedChannel ch = channel();
        assertThatThrownBy(() -> feedWhole(ch, hex(
                "668e33ef",             // magic
                "0001",                 // flags: DONE
                "0001",                 // type: OFFSET_DATA
                "0000000000000008",     // cookie
                "00000000")))           // length: 0, not even an offset
                .isInstanceOf(NbdProtocolException.class)
                .hasMessageContaining("OFFSET_DATA");
        assertThat(ch.inboundMessages()).isEmpty();
    }

    @Test
    void rejectsOffsetDataChunkWithAnOffsetButNoData() {
        EmbeddedChannel ch = channel();
        assertThatThrownBy(() -> feedWhole(ch, hex(
                "668e33ef",             // magic
                "0001",                 // flags: DONE
                "0001",                 // type: OFFSET_DATA
                "0000000000000008",     // cookie
                "00000008",             // length: 8, spec: at least 9
                "0000000000000000")))   // offset, and no data
                .isInstanceOf(NbdProtocolException.class)
                .hasMessageContaining("8 bytes");
        assertThat(ch.inboundMessages()).isEmpty();
        // The 8 offset bytes are dropped with the rest of the corrupt stream: nothing is read as a header at close.
        assertThat(ch.finish()).isFalse();
    }

    @Test
    void rejectsChunkLongerThanMaxChunkRightAfterItsHeader() {
        EmbeddedChannel ch = channel();
        assertThatThrownBy(() -> feedWhole(ch, hex(
                "668e33ef",             // magic
                "0001",                 // flags: DONE
                "0001",                 // type: OFFSET_DATA
                "0000000000000004",     // cookie
                "00000041")))           // length: 65 > MAX_CHUNK, no payload sent yet
                .isInstanceOf(NbdProtocolException.class)
                .hasMessageContaining("65");
        assertThat(ch.inboundMessages()).isEmpty();
    }

    @Test
    void rejectsChunkOfMaximumUnsignedLength() {
        EmbeddedChannel ch = channel();
        assertThatThrownBy(() -> feedWhole(ch, hex(
                "668e33ef",             // magic
                "0000",                 // flags
                "0001",                 // type: OFFSET_DATA
                "0000000000000004",     // cookie
                "ffffffff")))           // length: 2^32-1, negative as a signed int
                .isInstanceOf(NbdProtocolException.class)
                .hasMessageContaining("4294967295");
        assertThat(ch.inboundMessages()).isEmpty();
    }

    @Test
    void rejectsBadMagicAsSoonAsItsFourBytesArrive() {
        EmbeddedChannel ch = channel();
        String bad = hex(
                "25609513",             // magic: a request magic, wrong direction
                "00000000",             // (rest of what looks like a simple reply header)
                "0000000000000001");
        byte[] b = ByteBufUtil.decodeHexDump(bad);
        for (int i = 0; i < 3; i++) {
            ch.writeInbound(buf(ByteBufUtil.hexDump(b, i, 1)));
        }
        assertThatThrownBy(() -> ch.writeInbound(buf(ByteBufUtil.hexDump(b, 3, 1))))
                .isInstanceOf(NbdProtocolException.class)
                .isInstanceOf(DecoderException.class)
                .hasMessageContaining("25609513");
        assertThat(ch.inboundMessages()).isEmpty();
        // The decoder drops what it holds once the stream is corrupt, so closing the channel reports nothing more.
        assertThat(ch.finish()).isFalse();
    }

    @Test
    void rejectsBadMagicAfterAGoodReplyButDeliversTheGoodOne() {
        EmbeddedChannel ch = channel();
        assertThatThrownBy(() -> feedWhole(ch, hex(
                SIMPLE_OK_UNKNOWN,      // a good reply
                "00000000",             // magic: zero
                "0000000000000000000000000000")))
                .isInstanceOf(NbdProtocolException.class);
        List<Object> out = drainInbound(ch);
        try {
            assertThat(out).hasSize(1);
            assertSimple(out.get(0), 99, 0, "");
        } finally {
            release(out);
        }
        assertThat(ch.finish()).isFalse();
    }

    @Test
    void decodesNoReplyBehindCorruptionWhenTheChannelCloses() {
        EmbeddedChannel ch = channel();
        assertThatThrownBy(() -> feedWhole(ch, hex(
                "deadbeef",             // magic: garbage
                SIMPLE_READ_8)))        // a whole reply to the pending READ right behind it: no reply
                .isInstanceOf(NbdProtocolException.class);
        ch.close();
        assertThat(ch.inboundMessages()).isEmpty();
        assertThat(lookups).as("READ lengths looked up").isEmpty();
    }

    @Test
    void doesNotDeliverAPartialReplyWhenTheChannelCloses() {
        EmbeddedChannel ch = channel();
        assertThat(feedWhole(ch, SIMPLE_READ_8.substring(0, 40))).isFalse();
        // closed by the channels fixture after the test, which fails it if the partial reply comes out then
    }
}
