package dev.rbd.protocol.codec;

import static dev.rbd.protocol.codec.CodecTestSupport.assertMessageHoldsTheInputUntilReleased;
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
import dev.rbd.protocol.ExportNameReply;
import dev.rbd.protocol.NbdOption;
import dev.rbd.protocol.NbdProtocolException;
import dev.rbd.protocol.NbdReplyType;
import dev.rbd.protocol.NettyLeakCheck;
import dev.rbd.protocol.OptionReply;
import dev.rbd.protocol.ServerGreeting;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.DecoderException;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.RegisterExtension;

@ExtendWith(NettyLeakCheck.class)
class ClientHandshakeDecoderTest {
    private static final int MAX_REPLY = 32;

    private static final String GREETING = hex(
            "4e42444d41474943",     // magic NBDMAGIC
            "49484156454f5054",     // magic IHAVEOPT: newstyle
            "0003");                // handshake flags: FIXED_NEWSTYLE | NO_ZEROES

    private static final String REPLY_ACK = hex(
            "0003e889045565a9",     // magic: option reply
            "00000008",             // option: STRUCTURED_REPLY
            "00000001",             // reply type: ACK
            "00000000");            // length: 0

    private static final String REPLY_SERVER = hex(
            "0003e889045565a9",     // magic: option reply
            "00000003",             // option: LIST
            "00000002",             // reply type: SERVER
            "00000008",             // length: 8
            "00000004",             // name length
            "64697363");            // name: "disc"

    private static final String REPLY_ERR = hex(
            "0003e889045565a9",     // magic: option reply
            "ffffffff",             // option: unknown, echoed
            "80000001",             // reply type: ERR_UNSUP, bit 31 set
            "00000003",             // length: 3
            "6e6f21");              // "no!"

    private static final String EXPORT_NAME_NO_ZEROES = hex(
            "ffffffffffffffff",     // size: 2^64-1
            "8001");                // transmission flags: HAS_FLAGS and bit 15

    private static final String EXPORT_NAME_WITH_ZEROES = hex(
            "0000000100000000",     // size: 4 GiB
            "0001",                 // transmission flags: HAS_FLAGS
            "00".repeat(124));      // 124 zero bytes

    @RegisterExtension
    final EmbeddedChannels channels = new EmbeddedChannels();

    private ClientHandshakeDecoder decoder;

    private EmbeddedChannel channel() {
        decoder = new ClientHandshakeDecoder(MAX_REPLY);
        return channels.open(decoder);
    }

    /** A channel that has already decoded the greeting. */
    private EmbeddedChannel greeted() {
        EmbeddedChannel ch = channel();
        assertThat(feedWhole(ch, GREETING)).isTrue();
        assertThat(ch.<Object>readInbound()).isEqualTo(new ServerGreeting(3));
        return ch;
    }

    private static void assertReply(Object msg, int option, int type, String dataHex) {
        assertThat(msg).isInstanceOf(OptionReply.class);
        OptionReply r = (OptionReply) msg;
        assertThat(r.option()).as("option").isEqualTo(option);
        assertThat(r.type()).as("type").isEqualTo(type);
        assertThat(hexOf(r.content())).as("data").isEqualTo(dataHex);
    }

    @Test
    void decodesNewstyleGreeting() {
        EmbeddedChannel ch = channel();
        assertThat(feedWhole(ch, GREETING)).isTrue();
        assertThat(ch.<Object>readInbound()).isEqualTo(new ServerGreeting(3));
    }

    @Test
    void decodesHandshakeFlagsAsUnsigned() {
        EmbeddedChannel ch = channel();
        feedWhole(ch, hex(
                "4e42444d41474943",     // magic NBDMAGIC
                "49484156454f5054",     // magic IHAVEOPT
                "ffff"));               // handshake flags: all 16 bits
        ServerGreeting g = ch.readInbound();
        assertThat(g.handshakeFlags()).isEqualTo(0xffff);
    }

    @Test
    void decodesGreetingFedOneByteAtATimeLikeWholeFeed() {
        EmbeddedChannel ch = channel();
        assertThat(feedByteByByte(ch, GREETING)).containsExactly(18);
        assertThat(ch.<Object>readInbound()).isEqualTo(new ServerGreeting(3));
    }

    @Test
    void rejectsOldstyleServer() {
        EmbeddedChannel ch = channel();
        assertThatThrownBy(() -> feedWhole(ch, hex(
                "4e42444d41474943",     // magic NBDMAGIC
                "0000420281861253",     // cliserv_magic: an oldstyle server
                "0000")))               // first bytes of the oldstyle export size
                .isInstanceOf(NbdProtocolException.class)
                .hasMessageContaining("oldstyle");
        assertThat(ch.inboundMessages()).isEmpty();
    }

    @Test
    void rejectsBadGreetingMagic() {
        EmbeddedChannel ch = channel();
        assertThatThrownBy(() -> feedWhole(ch, hex(
                "4e42444d41474944",     // magic: NBDMAGIC with the last byte changed
                "49484156454f5054",     // magic IHAVEOPT
                "0003")))               // handshake flags
                .isInstanceOf(NbdProtocolException.class)
                .isInstanceOf(DecoderException.class)
                .hasMessageContaining("4e42444d41474944");
        assertThat(ch.inboundMessages()).isEmpty();
    }

    @Test
    void rejectsBadIHaveOptMagicInGreeting() {
        EmbeddedChannel ch = channel();
        assertThatThrownBy(() -> feedWhole(ch, hex(
                "4e42444d41474943",     // magic NBDMAGIC
                "49484156454f5055",     // magic: IHAVEOPT with the last bit flipped
                "0003")))               // handshake flags
                .isInstanceOf(NbdProtocolException.class)
                .hasMessageContaining("49484156454f5055");
        assertThat(ch.inboundMessages()).isEmpty();
    }

    @Test
    void decodesOptionReplyWithData() {
        EmbeddedChannel ch = greeted();
        assertThat(feedWhole(ch, REPLY_SERVER)).isTrue();
        OptionReply r = ch.readInbound();
        try {
            assertReply(r, NbdOption.LIST.code(), NbdReplyType.SERVER.code(), "00000004" + "64697363");
            assertThat(r.replyType()).isEqualTo(NbdReplyType.SERVER);
        } finally {
            r.release();
        }
    }

    @Test
    void decodesErrorOptionReplyWithUnsignedFields() {
        EmbeddedChannel ch = greeted();
        feedWhole(ch, REPLY_ERR);
        OptionReply r = ch.readInbound();
        try {
            assertReply(r, 0xffffffff, 0x80000001, "6e6f21");
            assertThat(r.replyType()).isEqualTo(NbdReplyType.ERR_UNSUP);
            assertThat(r.replyType().isError()).isTrue();
        } finally {
            r.release();
        }
    }

    @Test
    void decodesGreetingAndOptionRepliesFedOneByteAtATimeLikeWholeFeed() {
        String stream = hex(GREETING, REPLY_SERVER, REPLY_ACK, REPLY_ERR);
        EmbeddedChannel whole = channel();
        feedWhole(whole, stream);
        List<Object> expected = drainInbound(whole);

        EmbeddedChannel ch = channel();
        assertThat(feedByteByByte(ch, stream)).containsExactly(18, 18 + 28, 18 + 28 + 20, 18 + 28 + 20 + 23);
        List<Object> out = drainInbound(ch);
        try {
            assertThat(out).hasSize(4);
            assertThat(out.get(0)).isEqualTo(expected.get(0));
            for (int i = 1; i < 4; i++) {
                OptionReply e = (OptionReply) expected.get(i);
                assertReply(out.get(i), e.option(), e.type(), hexOf(e.content()));
            }
        } finally {
            release(out);
            release(expected);
        }
    }

    @Test
    void decodesOptionReplySplitAcrossReads() {
        EmbeddedChannel ch = greeted();
        // inside the magic, inside the type, right after the header, inside the data
        feedSplit(ch, REPLY_SERVER, 5, 14, 20, 22);
        OptionReply r = ch.readInbound();
        try {
            assertReply(r, 3, 2, "0000000464697363");
        } finally {
            r.release();
        }
    }

    @Test
    void decodesGreetingAndSeveralOptionRepliesInOneBuffer() {
        EmbeddedChannel ch = channel();
        assertThat(feedWhole(ch, hex(GREETING, REPLY_ACK, REPLY_SERVER, REPLY_ERR))).isTrue();
        List<Object> out = drainInbound(ch);
        try {
            assertThat(out).hasSize(4);
            assertThat(out.get(0)).isEqualTo(new ServerGreeting(3));
            assertReply(out.get(1), 8, 1, "");
            assertReply(out.get(2), 3, 2, "0000000464697363");
            assertReply(out.get(3), 0xffffffff, 0x80000001, "6e6f21");
        } finally {
            release(out);
        }
    }

    @Test
    void optionReplyDataIsARetainedSliceFreedByReleasingTheReply() {
        assertMessageHoldsTheInputUntilReleased(greeted(), REPLY_SERVER);
    }

    @Test
    void acceptsOptionReplyOfExactlyTheLimit() {
        EmbeddedChannel ch = greeted();
        assertThat(feedWhole(ch, hex(
                "0003e889045565a9",     // magic: option reply
                "00000006",             // option: INFO
                "00000003",             // reply type: INFO
                "00000020",             // length: 32 == MAX_REPLY
                pattern(32)))).isTrue(); // data
        OptionReply r = ch.readInbound();
        try {
            assertReply(r, 6, 3, pattern(32));
        } finally {
            r.release();
        }
    }

    @Test
    void rejectsOptionReplyLongerThanTheLimitRightAfterTheHeader() {
        EmbeddedChannel ch = greeted();
        assertThatThrownBy(() -> feedWhole(ch, hex(
                "0003e889045565a9",     // magic: option reply
                "00000006",             // option: INFO
                "00000003",             // reply type: INFO
                "00000021")))           // length: 33 > MAX_REPLY, no data sent yet
                .isInstanceOf(NbdProtocolException.class)
                .hasMessageContaining("33");
        assertThat(ch.inboundMessages()).isEmpty();
    }

    @Test
    void rejectsOptionReplyOfMaximumUnsignedLength() {
        EmbeddedChannel ch = greeted();
        assertThatThrownBy(() -> feedWhole(ch, hex(
                "0003e889045565a9",     // magic: option reply
                "00000006",             // option: INFO
                "00000003",             // reply type: INFO
                "ffffffff")))           // length: 2^32-1, negative as a signed int
                .isInstanceOf(NbdProtocolException.class)
                .hasMessageContaining("4294967295");
    }

    @Test
    void rejectsBadOptionReplyMagic() {
        EmbeddedChannel ch = greeted();
        assertThatThrownBy(() -> feedWhole(ch, hex(
                "49484156454f5054",     // magic: IHAVEOPT, the client's option magic
                "00000008",             // option
                "00000001",             // reply type
                "00000000")))           // length
                .isInstanceOf(NbdProtocolException.class)
                .hasMessageContaining("49484156454f5054");
        assertThat(ch.inboundMessages()).isEmpty();
    }

    @Test
    void decodesExportNameReplyWith124Zeroes() {
        EmbeddedChannel ch = greeted();
        decoder.expectExportNameReply(false);
        assertThat(feedWhole(ch, EXPORT_NAME_WITH_ZEROES)).isTrue();
        assertThat(ch.<Object>readInbound()).isEqualTo(new ExportNameReply(4L << 30, 1, false));
    }

    @Test
    void waitsForAllOf124ZeroesBeforeDecodingExportNameReply() {
        EmbeddedChannel ch = greeted();
        decoder.expectExportNameReply(false);
        assertThat(feedByteByByte(ch, EXPORT_NAME_WITH_ZEROES)).containsExactly(134);
        assertThat(ch.<Object>readInbound()).isEqualTo(new ExportNameReply(4L << 30, 1, false));
    }

    @Test
    void decodesExportNameReplyWithoutZeroes() {
        EmbeddedChannel ch = greeted();
        decoder.expectExportNameReply(true);
        assertThat(feedWhole(ch, EXPORT_NAME_NO_ZEROES)).isTrue();
        ExportNameReply e = ch.readInbound();
        assertThat(e.size()).isEqualTo(0xffffffffffffffffL);
        assertThat(e.transmissionFlags()).isEqualTo(0x8001);
        assertThat(e.noZeroes()).isTrue();
    }

    @Test
    void decodesExportNameReplyWithoutZeroesFedOneByteAtATime() {
        EmbeddedChannel ch = greeted();
        decoder.expectExportNameReply(true);
        assertThat(feedByteByByte(ch, EXPORT_NAME_NO_ZEROES)).containsExactly(10);
        assertThat(ch.<Object>readInbound()).isEqualTo(new ExportNameReply(-1L, 0x8001, true));
    }

    @Test
    void exportNameReplyWithoutZeroesLeavesTheFollowingBytesForTheTransmissionPhase() {
        EmbeddedChannel ch = channels.open();
        decoder = new ClientHandshakeDecoder(MAX_REPLY);
        ch.pipeline().addLast("handshake", decoder);
        ch.pipeline().addLast(new ChannelInboundHandlerAdapter() {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                ctx.fireChannelRead(msg);
                if (msg instanceof ServerGreeting) {
                    decoder.expectExportNameReply(true);
                } else if (msg instanceof ExportNameReply) {
                    ctx.pipeline().remove("handshake"); // hands its buffered bytes on, through this handler
                }
            }
        });
        String simpleReply = hex(
                "67446698",             // magic: the first transmission reply
                "00000000",             // error
                "0000000000000001");    // cookie
        feedWhole(ch, hex(GREETING, EXPORT_NAME_NO_ZEROES, simpleReply));
        List<Object> out = drainInbound(ch);
        try {
            assertThat(out).hasSize(3);
            assertThat(out.get(0)).isEqualTo(new ServerGreeting(3));
            assertThat(out.get(1)).isEqualTo(new ExportNameReply(-1L, 0x8001, true));
            assertThat(hexOf((ByteBuf) out.get(2))).isEqualTo(simpleReply);
        } finally {
            release(out);
        }
    }

    @Test
    void returnsToOptionRepliesAfterExportNameReply() {
        EmbeddedChannel ch = greeted();
        decoder.expectExportNameReply(true);
        assertThat(feedWhole(ch, hex(EXPORT_NAME_NO_ZEROES, REPLY_ACK))).isTrue();
        List<Object> out = drainInbound(ch);
        try {
            assertThat(out).hasSize(2);
            assertThat(out.get(0)).isEqualTo(new ExportNameReply(-1L, 0x8001, true));
            assertReply(out.get(1), 8, 1, "");
        } finally {
            release(out);
        }
    }

    @Test
    void doesNotDeliverAPartialOptionReplyWhenTheChannelCloses() {
        EmbeddedChannel ch = greeted();
        assertThat(feedWhole(ch, REPLY_SERVER.substring(0, 50))).isFalse();
        // closed by the channels fixture after the test, which fails it if the partial reply comes out then
    }
}
