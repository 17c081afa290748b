package dev.rbd.protocol.codec;

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
import dev.rbd.protocol.NbdCommand;
import dev.rbd.protocol.NbdConstants;
import dev.rbd.protocol.NbdProtocolException;
import dev.rbd.protocol.NbdRequest;
import dev.rbd.protocol.NbdWritePart;
import dev.rbd.protocol.NettyLeakCheck;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.DecoderException;
import io.netty.util.ReferenceCountUtil;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.RegisterExtension;

@ExtendWith(NettyLeakCheck.class)
class RequestDecoderTest {
    private static final int MAX_PAYLOAD = 16;

    /** A READ with every header field at an unsigned extreme. */
    private static final String READ_EXTREMES = hex(
            "25609513",             // magic NBD_REQUEST_MAGIC
            "ffff",                 // flags: all 16 bits
            "0000",                 // type: READ
            "8000000000000001",     // cookie: top bit set
            "ffffffffffffffff",     // offset: 2^64-1
            "ffffffff");            // length: 2^32-1 (no payload follows a READ)

    private static final String WRITE_4 = hex(
            "25609513",             // magic
            "0001",                 // flags: FUA
            "0001",                 // type: WRITE
            "fedcba9876543210",     // cookie: top bit set
            "0000000000001000",     // offset: 4096
            "00000004",             // length: 4
            "deadbeef");            // payload

    private static final String WRITE_MAX = hex(
            "25609513",             // magic
            "0000",                 // flags
            "0001",                 // type: WRITE
            "0000000000000002",     // cookie
            "0000000000000000",     // offset
            "00000010",             // length: 16 == MAX_PAYLOAD
            pattern(16));           // payload

    private static final String FLUSH = hex(
            "25609513",             // magic
            "0000",                 // flags
            "0003",                 // type: FLUSH
            "0000000000000003",     // cookie
            "0000000000000000",     // offset
            "00000000");            // length

    private static final String TRIM_HUGE = hex(
            "25609513",             // magic
            "0000",                 // flags
            "0004",                 // type: TRIM
            "0000000000000004",     // cookie
            "0000000000010000",     // offset: 64 KiB
            "ffffffff");            // length: 2^32-1, but TRIM carries no payload

    private static final String DISC = hex(
            "25609513",             // magic
            "0000",                 // flags
            "0002",                 // type: DISC
            "0000000000000005",     // cookie
            "0000000000000000",     // offset
            "00000000");            // length

    /** A WRITE whose 100-byte payload exceeds MAX_PAYLOAD (16) but not the portable 32 MiB. */
    private static final String WRITE_OVERSIZED = hex(
            "25609513",             // magic
            "0001",                 // flags: FUA
            "0001",                 // type: WRITE
            "ffffffffffffff07",     // cookie: top bit set
            "0000000000200000",     // offset: 2 MiB
            "00000064",             // length: 100 > MAX_PAYLOAD
            pattern(100));          // payload, to be skipped

    @RegisterExtension
    final EmbeddedChannels channels = new EmbeddedChannels();

    private EmbeddedChannel channel() {
        return channels.open(new RequestDecoder(MAX_PAYLOAD));
    }

    private static void assertRequest(NbdRequest r, int flags, NbdCommand command, long cookie, long offset,
                                      long length, String payloadHex) {
        assertThat(r.flags()).as("flags").isEqualTo(flags);
        assertThat(r.type()).as("type").isEqualTo(command.code());
        assertThat(r.command()).as("command").isEqualTo(command);
        assertThat(r.cookie()).as("cookie").isEqualTo(cookie);
        assertThat(r.offset()).as("offset").isEqualTo(offset);
        assertThat(r.length()).as("length").isEqualTo(length);
        assertThat(hexOf(r.content())).as("payload").isEqualTo(payloadHex);
        assertThat(r.payloadDropped()).as("payloadDropped").isFalse();
    }

    private static void assertSameRequest(NbdRequest actual, NbdRequest expected) {
        assertThat(actual.flags()).isEqualTo(expected.flags());
        assertThat(actual.type()).isEqualTo(expected.type());
        assertThat(actual.cookie()).isEqualTo(expected.cookie());
        assertThat(actual.offset()).isEqualTo(expected.offset());
        assertThat(actual.length()).isEqualTo(expected.length());
        assertThat(actual.payloadDropped()).isEqualTo(expected.payloadDropped());
        assertThat(ByteBufUtil.equals(actual.content(), expected.content())).isTrue();
    }

    private NbdRequest decodeWhole(String fixture) {
        EmbeddedChannel ch = channel();
        assertThat(feedWhole(ch, fixture)).isTrue();
        return ch.readInbound();
    }

    @Test
    void decodesReadRequestWithUnsignedExtremes() {
        EmbeddedChannel ch = channel();
        assertThat(feedWhole(ch, READ_EXTREMES)).isTrue();
        NbdRequest r = ch.readInbound();
        try {
            assertRequest(r, 0xffff, NbdCommand.READ, 0x8000000000000001L, 0xffffffffffffffffL, 0xffffffffL, "");
            assertThat(Long.toUnsignedString(r.offset())).isEqualTo("18446744073709551615");
            assertThat(r.length()).isEqualTo(4294967295L);
        } finally {
            r.release();
        }
    }

    @Test
    void decodesReadRequestFedOneByteAtATimeLikeWholeFeed() {
        NbdRequest whole = decodeWhole(READ_EXTREMES);
        EmbeddedChannel ch = channel();
        assertThat(feedByteByByte(ch, READ_EXTREMES)).containsExactly(28);
        NbdRequest r = ch.readInbound();
        try {
            assertSameRequest(r, whole);
        } finally {
            ReferenceCountUtil.release(r);
            whole.release();
        }
    }

    @Test
    void decodesWriteRequestWithPayload() {
        EmbeddedChannel ch = channel();
        assertThat(feedWhole(ch, WRITE_4)).isTrue();
        NbdRequest r = ch.readInbound();
        try {
            assertRequest(r, NbdConstants.CMD_FLAG_FUA, NbdCommand.WRITE, 0xfedcba9876543210L, 4096, 4, "deadbeef");
            assertThat(r.hasFlag(NbdConstants.CMD_FLAG_FUA)).isTrue();
        } finally {
            r.release();
        }
    }

    @Test
    void decodesWriteRequestFedOneByteAtATimeLikeWholeFeed() {
        NbdRequest whole = decodeWhole(WRITE_4);
        EmbeddedChannel ch = channel();
        assertThat(feedByteByByte(ch, WRITE_4)).containsExactly(32);
        NbdRequest r = ch.readInbound();
        try {
            assertSameRequest(r, whole);
            assertThat(hexOf(r.content())).isEqualTo("deadbeef");
        } finally {
            r.release();
            whole.release();
        }
    }

    @Test
    void decodesWriteRequestSplitAcrossReads() {
        EmbeddedChannel ch = channel();
        // inside the magic, inside the cookie, right after the header, inside the payload
        feedSplit(ch, WRITE_4, 2, 13, 28, 30);
        NbdRequest r = ch.readInbound();
        try {
            assertRequest(r, NbdConstants.CMD_FLAG_FUA, NbdCommand.WRITE, 0xfedcba9876543210L, 4096, 4, "deadbeef");
        } finally {
            r.release();
        }
        assertThat(ch.<Object>readInbound()).isNull();
    }

    @Test
    void waitsForTheWholePayloadBeforeDecodingAWrite() {
        EmbeddedChannel ch = channel();
        String header = WRITE_4.substring(0, 56);
        assertThat(feedWhole(ch, header)).isFalse();
        assertThat(feedWhole(ch, "deadbe")).isFalse();
        assertThat(feedWhole(ch, "ef")).isTrue();
        NbdRequest r = ch.readInbound();
        try {
            assertThat(hexOf(r.content())).isEqualTo("deadbeef");
        } finally {
            r.release();
        }
    }

    @Test
    void saysWhetherItIsInTheMiddleOfARequest() {
        RequestDecoder decoder = new RequestDecoder(MAX_PAYLOAD);
        EmbeddedChannel ch = channels.open(decoder);
        assertThat(decoder.midRequest()).as("nothing yet").isFalse();
        assertThat(feedWhole(ch, WRITE_4.substring(0, 10))).isFalse();
        assertThat(decoder.midRequest()).as("part of a header").isTrue();
        assertThat(feedWhole(ch, WRITE_4.substring(10, 60))).isFalse();
        assertThat(decoder.midRequest()).as("part of a payload").isTrue();
        assertThat(feedWhole(ch, WRITE_4.substring(60))).isTrue();
        assertThat(decoder.midRequest()).as("a whole write").isFalse();
        release(drainInbound(ch));
        assertThat(feedWhole(ch, FLUSH)).isTrue();
        assertThat(decoder.midRequest()).as("a whole flush").isFalse();
        release(drainInbound(ch));
    }

    @Test
    void decodesSeveralRequestsInOneBuffer() {
        EmbeddedChannel ch = channel();
        assertThat(feedWhole(ch, hex(READ_EXTREMES, WRITE_4, FLUSH, WRITE_MAX, TRIM_HUGE, DISC))).isTrue();
        List<Object> out = drainInbound(ch);
        try {
            assertThat(out).hasSize(6).allMatch(NbdRequest.class::isInstance);
            assertRequest((NbdRequest) out.get(0), 0xffff, NbdCommand.READ, 0x8000000000000001L, -1L, 0xffffffffL, "");
            assertRequest((NbdRequest) out.get(1), 1, NbdCommand.WRITE, 0xfedcba9876543210L, 4096, 4, "deadbeef");
            assertRequest((NbdRequest) out.get(2), 0, NbdCommand.FLUSH, 3, 0, 0, "");
            assertRequest((NbdRequest) out.get(3), 0, NbdCommand.WRITE, 2, 0, 16, pattern(16));
            assertRequest((NbdRequest) out.get(4), 0, NbdCommand.TRIM, 4, 0x10000, 0xffffffffL, "");
            assertRequest((NbdRequest) out.get(5), 0, NbdCommand.DISC, 5, 0, 0, "");
        } finally {
            release(out);
        }
    }

    @Test
    void decodesSeveralRequestsFedOneByteAtATime() {
        EmbeddedChannel ch = channel();
        assertThat(feedByteByByte(ch, hex(WRITE_4, FLUSH, WRITE_MAX))).containsExactly(32, 60, 60 + 44);
        List<Object> out = drainInbound(ch);
        try {
            assertRequest((NbdRequest) out.get(0), 1, NbdCommand.WRITE, 0xfedcba9876543210L, 4096, 4, "deadbeef");
            assertRequest((NbdRequest) out.get(1), 0, NbdCommand.FLUSH, 3, 0, 0, "");
            assertRequest((NbdRequest) out.get(2), 0, NbdCommand.WRITE, 2, 0, 16, pattern(16));
        } finally {
            release(out);
        }
    }

    @Test
    void decodesRequestsSplitAtEveryPossibleBoundary() {
        String stream = hex(WRITE_4, FLUSH);
        int total = stream.length() / 2;
        for (int cut = 1; cut < total; cut++) {
            EmbeddedChannel ch = channel();
            feedSplit(ch, stream, cut);
            List<Object> out = drainInbound(ch);
            try {
                assertThat(out).as("cut at %d", cut).hasSize(2);
                assertRequest((NbdRequest) out.get(0), 1, NbdCommand.WRITE, 0xfedcba9876543210L, 4096, 4,
                        "deadbeef");
                assertRequest((NbdRequest) out.get(1), 0, NbdCommand.FLUSH, 3, 0, 0, "");
            } finally {
                release(out);
            }
        }
    }

    @Test
    void nonWriteRequestWithHugeLengthCarriesNoPayloadAndNextRequestFollowsImmediately() {
        EmbeddedChannel ch = channel();
        assertThat(feedWhole(ch, hex(TRIM_HUGE, FLUSH))).isTrue();
        List<Object> out = drainInbound(ch);
        try {
            assertThat(out).hasSize(2);
            assertRequest((NbdRequest) out.get(0), 0, NbdCommand.TRIM, 4, 0x10000, 0xffffffffL, "");
            assertRequest((NbdRequest) out.get(1), 0, NbdCommand.FLUSH, 3, 0, 0, "");
        } finally {
            release(out);
        }
    }

    @Test
    void writePayloadIsARetainedSliceFreedByReleasingTheRequest() {
        EmbeddedChannel ch = channel();
        ByteBuf input = buf(WRITE_4);
        assertThat(ch.writeInbound(input)).isTrue();
        NbdRequest r = ch.readInbound();
        // The decoder is done with the input; only the request's slice keeps it alive.
        assertThat(r.refCnt()).isEqualTo(1);
        assertThat(input.refCnt()).isEqualTo(1);
        assertThat(r.release()).isTrue();
        assertThat(r.refCnt()).isZero();
        assertThat(input.refCnt()).isZero();
    }

    @Test
    void writePayloadFedInPiecesIsFreedByReleasingTheRequest() {
        EmbeddedChannel ch = channel();
        feedByteByByte(ch, WRITE_4);
        NbdRequest r = ch.readInbound();
        assertThat(r.refCnt()).isEqualTo(1);
        ByteBuf payload = r.content();
        r.release();
        assertThat(payload.refCnt()).isZero();
    }

    @Test
    void aPayloadStillArrivingIsCopiedOutSoTheInputIsNotPinned() {
        EmbeddedChannel ch = channel();
        byte[] wire = ByteBufUtil.decodeHexDump(WRITE_MAX);
        int split = NbdConstants.REQUEST_HEADER_LENGTH + 5;   // the header and the first 5 payload bytes
        ByteBuf first = ch.alloc().buffer().writeBytes(wire, 0, split);
        ByteBuf second = ch.alloc().buffer().writeBytes(wire, split, wire.length - split);
        assertThat(ch.writeInbound(first)).isFalse();
        // the 5 bytes were copied into the payload's own buffer: nothing holds the first input any more
        assertThat(first.refCnt()).isZero();
        assertThat(ch.writeInbound(second)).isTrue();
        assertThat(second.refCnt()).isZero();
        NbdRequest r = ch.readInbound();
        assertThat(hexOf(r.content())).isEqualTo(pattern(16));
        assertThat(r.content().capacity()).isEqualTo(16);
        r.release();
    }

    @Test
    void aPartlyArrivedPayloadIsFreedWhenTheConnectionCloses() {
        EmbeddedChannel ch = channel();
        byte[] wire = ByteBufUtil.decodeHexDump(WRITE_MAX);
        ByteBuf first = ch.alloc().buffer().writeBytes(wire, 0, NbdConstants.REQUEST_HEADER_LENGTH + 5);
        assertThat(ch.writeInbound(first)).isFalse();
        // closed with the payload incomplete by the channels fixture after the test: the leak check, which runs
        // after that, fails this test if the payload's buffer is not released
    }

    @Test
    void decodesZeroLengthWriteWithEmptyPayload() {
        EmbeddedChannel ch = channel();
        assertThat(feedWhole(ch, hex(
                "25609513",             // magic
                "0000",                 // flags
                "0001",                 // type: WRITE
                "0000000000000009",     // cookie
                "0000000000000200",     // offset: 512
                "00000000"))).isTrue(); // length: 0, no payload
        NbdRequest r = ch.readInbound();
        try {
            assertRequest(r, 0, NbdCommand.WRITE, 9, 512, 0, "");
        } finally {
            r.release();
        }
    }

    @Test
    void decodesWriteOfExactlyMaxPayload() {
        EmbeddedChannel ch = channel();
        assertThat(feedWhole(ch, WRITE_MAX)).isTrue();
        NbdRequest r = ch.readInbound();
        try {
            assertRequest(r, 0, NbdCommand.WRITE, 2, 0, 16, pattern(16));
        } finally {
            r.release();
        }
    }

    @Test
    void keepsUnknownTypeAndFlagsAsWireValues() {
        EmbeddedChannel ch = channel();
        assertThat(feedWhole(ch, hex(
                "25609513",             // magic
                "ffc0",                 // flags: unknown bits
                "abcd",                 // type: unknown
                "0000000000000001",     // cookie
                "0000000000000000",     // offset
                "00000010",             // length: 16, but only WRITE carries a payload
                FLUSH))).isTrue();      // so the next request follows straight away
        List<Object> out = drainInbound(ch);
        try {
            assertThat(out).hasSize(2);
            NbdRequest r = (NbdRequest) out.get(0);
            assertThat(r.flags()).isEqualTo(0xffc0);
            assertThat(r.type()).isEqualTo(0xabcd);
            assertThat(r.command()).isNull();
            assertThat(r.length()).isEqualTo(16);
            assertThat(r.content().isReadable()).isFalse();
            assertRequest((NbdRequest) out.get(1), 0, NbdCommand.FLUSH, 3, 0, 0, "");
        } finally {
            release(out);
        }
    }

    @Test
    void rejectsBadMagicAndDecodesNothing() {
        EmbeddedChannel ch = channel();
        String bad = hex(
                "25609514",             // magic: off by one
                "0000",                 // flags
                "0000",                 // type: READ
                "0000000000000001",     // cookie
                "0000000000000000",     // offset
                "00001000");            // length
        assertThatThrownBy(() -> feedWhole(ch, bad))
                .isInstanceOf(NbdProtocolException.class)
                .isInstanceOf(DecoderException.class)
                .hasMessageContaining("25609514");
        assertThat(ch.inboundMessages()).isEmpty();
    }

    @Test
    void rejectsReplyMagicSentAsRequest() {
        EmbeddedChannel ch = channel();
        String bad = hex(
                "67446698",             // magic: NBD_SIMPLE_REPLY_MAGIC, wrong direction
                "00000000",             // error
                "0000000000000001",     // cookie
                "0000000000000000",     // (filler up to a request header)
                "00000000");
        assertThatThrownBy(() -> feedWhole(ch, bad)).isInstanceOf(NbdProtocolException.class);
        assertThat(ch.inboundMessages()).isEmpty();
    }

    @Test
    void decodesNothingAfterABadMagicEvenWhenTheChannelCloses() {
        EmbeddedChannel ch = channel();
        String stream = hex(
                "deadbeef",             // magic: garbage
                FLUSH);                 // a whole request right behind it: no request, it follows corruption
        assertThatThrownBy(() -> feedWhole(ch, stream)).isInstanceOf(NbdProtocolException.class);
        ch.close();
        assertThat(ch.inboundMessages()).isEmpty();
    }

    @Test
    void deliversRequestsThatPrecedeABadMagic() {
        EmbeddedChannel ch = channel();
        String stream = hex(
                FLUSH,                  // a good request
                "deadbeef",             // magic: garbage
                "00".repeat(24));      // rest of a header
        assertThatThrownBy(() -> feedWhole(ch, stream)).isInstanceOf(NbdProtocolException.class);
        List<Object> out = drainInbound(ch);
        try {
            assertThat(out).hasSize(1);
            assertRequest((NbdRequest) out.get(0), 0, NbdCommand.FLUSH, 3, 0, 0, "");
        } finally {
            release(out);
        }
    }

    @Test
    void skipsWritePayloadAboveMaxPayloadAndMarksItDropped() {
        EmbeddedChannel ch = channel();
        assertThat(feedWhole(ch, hex(WRITE_OVERSIZED, FLUSH))).isTrue();
        List<Object> out = drainInbound(ch);
        try {
            assertThat(out).hasSize(2);
            NbdRequest dropped = (NbdRequest) out.get(0);
            assertThat(dropped.payloadDropped()).isTrue();
            assertThat(dropped.command()).isEqualTo(NbdCommand.WRITE);
            assertThat(dropped.flags()).isEqualTo(NbdConstants.CMD_FLAG_FUA);
            assertThat(dropped.cookie()).isEqualTo(0xffffffffffffff07L);
            assertThat(dropped.offset()).isEqualTo(2L << 20);
            assertThat(dropped.length()).isEqualTo(100);
            assertThat(dropped.content().isReadable()).isFalse();
            // the request after the skipped payload decodes correctly
            assertRequest((NbdRequest) out.get(1), 0, NbdCommand.FLUSH, 3, 0, 0, "");
        } finally {
            release(out);
        }
    }

    @Test
    void skipsOversizedWritePayloadFedOneByteAtATime() {
        EmbeddedChannel ch = channel();
        assertThat(feedByteByByte(ch, hex(WRITE_OVERSIZED, WRITE_4))).containsExactly(128, 128 + 32);
        List<Object> out = drainInbound(ch);
        try {
            assertThat(((NbdRequest) out.get(0)).payloadDropped()).isTrue();
            assertThat(((NbdRequest) out.get(0)).length()).isEqualTo(100);
            assertRequest((NbdRequest) out.get(1), 1, NbdCommand.WRITE, 0xfedcba9876543210L, 4096, 4, "deadbeef");
        } finally {
            release(out);
        }
    }

    @Test
    void skipsOversizedWritePayloadSplitAcrossReadsWithNextRequestInTheLastRead() {
        EmbeddedChannel ch = channel();
        // header alone, half the payload, rest of the payload together with the next WRITE's first bytes, rest
        feedSplit(ch, hex(WRITE_OVERSIZED, WRITE_4), 28, 78, 140);
        List<Object> out = drainInbound(ch);
        try {
            assertThat(out).hasSize(2);
            assertThat(((NbdRequest) out.get(0)).payloadDropped()).isTrue();
            assertRequest((NbdRequest) out.get(1), 1, NbdCommand.WRITE, 0xfedcba9876543210L, 4096, 4, "deadbeef");
        } finally {
            release(out);
        }
    }

    @Test
    void holdsBackTheDroppedWriteUntilItsLastPayloadByteArrives() {
        EmbeddedChannel ch = channel();
        String stream = WRITE_OVERSIZED;
        assertThat(feedWhole(ch, stream.substring(0, stream.length() - 2))).isFalse();
        assertThat(ch.inboundMessages()).isEmpty();
        assertThat(feedWhole(ch, stream.substring(stream.length() - 2))).isTrue();
        NbdRequest r = ch.readInbound();
        assertThat(r.payloadDropped()).isTrue();
        r.release();
    }

    @Test
    void skipsWritePayloadOfExactlyThePortableMaximumWithoutBufferingIt() {
        CodecTestSupport.RecordingAllocator alloc = new CodecTestSupport.RecordingAllocator();
        EmbeddedChannel ch = channels.open(new RequestDecoder(4096));
        ch.config().setAllocator(alloc);
        assertThat(feedWhole(ch, hex(
                "25609513",             // magic
                "0000",                 // flags
                "0001",                 // type: WRITE
                "8000000000000000",     // cookie: top bit set
                "0000000000000000",     // offset
                "02000000"))).isFalse(); // length: 2^25 == PORTABLE_MAX_PAYLOAD
        int chunk = 1 << 20;
        for (int i = 0; i < 31; i++) {
            assertThat(ch.writeInbound(ByteBufAllocator.DEFAULT.heapBuffer(chunk).writeZero(chunk))).isFalse();
        }
        // the last MiB of payload and the next request in one read
        ByteBuf last = ByteBufAllocator.DEFAULT.heapBuffer(chunk + 28).writeZero(chunk).writeBytes(ByteBufUtil.decodeHexDump(FLUSH));
        assertThat(ch.writeInbound(last)).isTrue();
        List<Object> out = drainInbound(ch);
        try {
            assertThat(out).hasSize(2);
            NbdRequest dropped = (NbdRequest) out.get(0);
            assertThat(dropped.payloadDropped()).isTrue();
            assertThat(dropped.length()).isEqualTo(NbdConstants.PORTABLE_MAX_PAYLOAD);
            assertThat(dropped.cookie()).isEqualTo(Long.MIN_VALUE);
            assertRequest((NbdRequest) out.get(1), 0, NbdCommand.FLUSH, 3, 0, 0, "");
        } finally {
            release(out);
        }
        assertThat(alloc.largestRequest()).as("largest allocation").isLessThan(64 << 10);
    }

    @Test
    void rejectsWriteAboveTwiceThePortableMaximumRightAfterTheHeader() {
        CodecTestSupport.RecordingAllocator alloc = new CodecTestSupport.RecordingAllocator();
        EmbeddedChannel ch = channels.open(new RequestDecoder(4096));
        ch.config().setAllocator(alloc);
        String header = hex(
                "25609513",             // magic
                "0000",                 // flags
                "0001",                 // type: WRITE
                "0000000000000001",     // cookie
                "0000000000000000",     // offset
                "04000001");            // length: 2^26 + 1, above the discard limit 2 x 2^25
        byte[] b = ByteBufUtil.decodeHexDump(header);
        // 27 header bytes: nothing happens yet
        assertThat(ch.writeInbound(ByteBufAllocator.DEFAULT.heapBuffer(27).writeBytes(b, 0, 27))).isFalse();
        // the 28th byte completes the header: rejected before a single payload byte arrived
        assertThatThrownBy(() -> ch.writeInbound(ByteBufAllocator.DEFAULT.heapBuffer(1).writeBytes(b, 27, 1)))
                .isInstanceOf(NbdProtocolException.class)
                .hasMessageContaining("67108865");
        assertThat(ch.inboundMessages()).isEmpty();
        assertThat(alloc.largestRequest()).as("largest allocation").isLessThan(1024);
    }

    @Test
    void rejectsWriteOfMaximumUnsignedLengthRightAfterTheHeader() {
        CodecTestSupport.RecordingAllocator alloc = new CodecTestSupport.RecordingAllocator();
        EmbeddedChannel ch = channels.open(new RequestDecoder(MAX_PAYLOAD));
        ch.config().setAllocator(alloc);
        String header = hex(
                "25609513",             // magic
                "0000",                 // flags
                "0001",                 // type: WRITE
                "0000000000000001",     // cookie
                "0000000000000000",     // offset
                "ffffffff");            // length: 2^32-1, would be negative as a signed int
        assertThatThrownBy(() -> feedWhole(ch, header))
                .isInstanceOf(NbdProtocolException.class)
                .hasMessageContaining("4294967295");
        assertThat(ch.inboundMessages()).isEmpty();
        assertThat(alloc.largestRequest()).as("largest allocation").isLessThan(1024);
    }

    @Test
    void withMaxPayloadAboveThePortableMaximumRejectsWritesAboveTwiceMaxPayload() {
        int maxPayload = 1 << 26;
        EmbeddedChannel ch = channels.open(new RequestDecoder(maxPayload));
        String header = hex(
                "25609513",             // magic
                "0000",                 // flags
                "0001",                 // type: WRITE
                "0000000000000001",     // cookie
                "0000000000000000",     // offset
                "08000001");            // length: 2^27 + 1 > 2 x maxPayload
        assertThatThrownBy(() -> feedWhole(ch, header))
                .isInstanceOf(NbdProtocolException.class)
                .hasMessageContaining(Long.toString(2L * maxPayload));
    }

    @Test
    void skipsWritePayloadJustAboveALargeMaxPayloadWithoutBufferingIt() {
        CodecTestSupport.RecordingAllocator alloc = new CodecTestSupport.RecordingAllocator();
        EmbeddedChannel ch = channels.open(new RequestDecoder(1 << 26));
        ch.config().setAllocator(alloc);
        assertThat(feedWhole(ch, hex(
                "25609513",             // magic
                "0000",                 // flags
                "0001",                 // type: WRITE
                "0000000000000007",     // cookie
                "0000000000000000",     // offset
                "04001000"))).isFalse(); // length: 2^26 + 4096, just above maxPayload
        int chunk = 1 << 20;
        for (int i = 0; i < 64; i++) {
            assertThat(ch.writeInbound(ByteBufAllocator.DEFAULT.heapBuffer(chunk).writeZero(chunk))).isFalse();
        }
        ByteBuf last = ByteBufAllocator.DEFAULT.heapBuffer(4096 + 28).writeZero(4096)
                .writeBytes(ByteBufUtil.decodeHexDump(FLUSH));
        assertThat(ch.writeInbound(last)).isTrue();
        List<Object> out = drainInbound(ch);
        try {
            assertThat(out).hasSize(2);
            NbdRequest dropped = (NbdRequest) out.get(0);
            assertThat(dropped.payloadDropped()).isTrue();
            assertThat(dropped.length()).isEqualTo((1L << 26) + 4096);
            assertThat(dropped.cookie()).isEqualTo(7);
            assertRequest((NbdRequest) out.get(1), 0, NbdCommand.FLUSH, 3, 0, 0, "");
        } finally {
            release(out);
        }
        assertThat(alloc.largestRequest()).as("largest allocation").isLessThan(64 << 10);
    }

    @Test
    void withMaxPayloadAboveThePortableMaximumStreamsAWriteBetweenTheTwo() {
        EmbeddedChannel ch = channels.open(new RequestDecoder(1 << 26));
        // 2^25 + 1 is above the portable maximum but within maxPayload: a payload to stream, not an error
        assertThat(feedWhole(ch, hex(
                "25609513",             // magic
                "0000",                 // flags
                "0001",                 // type: WRITE
                "0000000000000001",     // cookie
                "0000000000000000",     // offset
                "02000001"))).isTrue(); // length: 2^25 + 1
        NbdRequest header = ch.readInbound();
        assertThat(header.payloadStreamed()).isTrue();
        assertThat(header.length()).isEqualTo((1L << 25) + 1);
        assertThat(header.content().isReadable()).isFalse();
        header.release();
        assertThat(ch.inboundMessages()).as("no part before its bytes are there").isEmpty();
    }

    /** A WRITE of FILL_LIMIT + 3 bytes: one full part, then a part of 3 bytes, the last. */
    private static byte[] streamedWrite(int cookie) {
        int length = RequestDecoder.FILL_LIMIT + 3;
        ByteBuf b = Unpooled.buffer(NbdConstants.REQUEST_HEADER_LENGTH + length);
        b.writeBytes(ByteBufUtil.decodeHexDump(hex(
                "25609513",             // magic
                "0001",                 // flags: FUA
                "0001",                 // type: WRITE
                "00000000000000" + String.format("%02x", cookie), // cookie
                "0000000000001000",     // offset: 4096
                "00200003")));          // length: 2 MiB + 3
        for (int i = 0; i < length; i++) {
            b.writeByte(i * 7);
        }
        byte[] wire = ByteBufUtil.getBytes(b);
        b.release();
        return wire;
    }

    @Test
    void streamsAWriteAboveTheFillLimitInPartsOfAtMostTheFillLimit() {
        EmbeddedChannel ch = channels.open(new RequestDecoder(1 << 25));
        byte[] wire = streamedWrite(9);
        // fed in 64 KiB reads, as a socket would deliver it
        for (int at = 0; at < wire.length; at += 65536) {
            ch.writeInbound(ch.alloc().buffer().writeBytes(wire, at, Math.min(65536, wire.length - at)));
        }
        NbdRequest header = ch.readInbound();
        assertThat(header.payloadStreamed()).isTrue();
        assertThat(header.cookie()).isEqualTo(9);
        assertThat(header.offset()).isEqualTo(4096);
        assertThat(header.length()).isEqualTo(RequestDecoder.FILL_LIMIT + 3);
        assertThat(header.hasFlag(NbdConstants.CMD_FLAG_FUA)).isTrue();
        header.release();
        NbdWritePart first = ch.readInbound();
        NbdWritePart second = ch.readInbound();
        try {
            assertThat(first.position()).isZero();
            assertThat(first.last()).isFalse();
            assertThat(first.content().readableBytes()).isEqualTo(RequestDecoder.FILL_LIMIT);
            assertThat(second.position()).isEqualTo(RequestDecoder.FILL_LIMIT);
            assertThat(second.last()).isTrue();
            assertThat(second.content().readableBytes()).isEqualTo(3);
            int header0 = NbdConstants.REQUEST_HEADER_LENGTH;
            assertThat(ByteBufUtil.getBytes(first.content()))
                    .isEqualTo(Arrays.copyOfRange(wire, header0, header0 + RequestDecoder.FILL_LIMIT));
            assertThat(ByteBufUtil.getBytes(second.content()))
                    .isEqualTo(Arrays.copyOfRange(wire, header0 + RequestDecoder.FILL_LIMIT, wire.length));
        } finally {
            first.release();
            second.release();
        }
    }

    @Test
    void aStreamedWriteFedWholeIsFollowedByTheNextRequest() {
        EmbeddedChannel ch = channels.open(new RequestDecoder(1 << 25));
        byte[] wire = streamedWrite(1);
        ByteBuf in = ch.alloc().buffer().writeBytes(wire).writeBytes(ByteBufUtil.decodeHexDump(FLUSH));
        assertThat(ch.writeInbound(in)).isTrue();
        NbdRequest header = ch.readInbound();
        NbdWritePart first = ch.readInbound();
        NbdWritePart last = ch.readInbound();
        NbdRequest flush = ch.readInbound();
        try {
            assertThat(header.payloadStreamed()).isTrue();
            assertThat(first.last()).isFalse();
            assertThat(last.last()).isTrue();
            assertThat(flush.command()).isEqualTo(NbdCommand.FLUSH);
        } finally {
            header.release();
            first.release();
            last.release();
            flush.release();
        }
    }

    @Test
    void aPartOfAStreamedWriteStillArrivingIsFreedWhenTheConnectionCloses() {
        EmbeddedChannel ch = channels.open(new RequestDecoder(1 << 25));
        byte[] wire = streamedWrite(2);
        ch.writeInbound(ch.alloc().buffer().writeBytes(wire, 0, NbdConstants.REQUEST_HEADER_LENGTH + 1000));
        NbdRequest header = ch.readInbound();
        header.release();
        assertThat(ch.inboundMessages()).isEmpty();
        // the channels fixture closes the channel; the leak check then fails this test if the part is not released
    }

    @Test
    void doesNotDeliverAPartialRequestWhenTheChannelCloses() {
        EmbeddedChannel ch = channel();
        assertThat(feedWhole(ch, WRITE_4.substring(0, 60))).isFalse();
        // closed by the channels fixture after the test, which fails it if the partial request comes out then
    }

    @Test
    void rejectsNonPositiveMaxPayload() {
        assertThatThrownBy(() -> new RequestDecoder(0)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new RequestDecoder(-1)).isInstanceOf(IllegalArgumentException.class);
    }
}
