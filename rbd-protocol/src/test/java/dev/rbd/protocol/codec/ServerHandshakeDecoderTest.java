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

import dev.rbd.protocol.ClientFlags;
import dev.rbd.protocol.EmbeddedChannels;
import dev.rbd.protocol.NbdOption;
import dev.rbd.protocol.NbdProtocolException;
import dev.rbd.protocol.NettyLeakCheck;
import dev.rbd.protocol.OptionRequest;
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
class ServerHandshakeDecoderTest {
    private static final int MAX_OPTION = 32;

    private static final String CLIENT_FLAGS = hex(
            "00000003");            // client flags: FIXED_NEWSTYLE | NO_ZEROES

    private static final String OPT_GO = hex(
            "49484156454f5054",     // magic IHAVEOPT
            "00000007",             // option: GO
            "0000000a",             // length: 10
            "00000004",             // export name length: 4
            "64697363",             // export name: "disc"
            "0000");                // number of info requests: 0

    private static final String OPT_STRUCTURED_REPLY = hex(
            "49484156454f5054",     // magic IHAVEOPT
            "00000008",             // option: STRUCTURED_REPLY
            "00000000");            // length: 0

    private static final String OPT_UNKNOWN = hex(
            "49484156454f5054",     // magic IHAVEOPT
            "ffffffff",             // option: unknown, top bit set
            "00000001",             // length: 1
            "7a");                  // data

    @RegisterExtension
    final EmbeddedChannels channels = new EmbeddedChannels();

    private EmbeddedChannel channel() {
        return channels.open(new ServerHandshakeDecoder(MAX_OPTION));
    }

    private static void assertOption(Object msg, int option, String dataHex) {
        assertThat(msg).isInstanceOf(OptionRequest.class);
        OptionRequest o = (OptionRequest) msg;
        assertThat(o.option()).as("option").isEqualTo(option);
        assertThat(hexOf(o.content())).as("data").isEqualTo(dataHex);
    }

    @Test
    void decodesClientFlagsFirst() {
        EmbeddedChannel ch = channel();
        assertThat(feedWhole(ch, CLIENT_FLAGS)).isTrue();
        ClientFlags f = ch.readInbound();
        assertThat(f.flags()).isEqualTo(3);
        assertThat(f.fixedNewstyle()).isTrue();
        assertThat(f.noZeroes()).isTrue();
    }

    @Test
    void keepsUnknownClientFlagBits() {
        EmbeddedChannel ch = channel();
        feedWhole(ch, hex(
                "80000001"));           // client flags: FIXED_NEWSTYLE and unknown bit 31
        ClientFlags f = ch.readInbound();
        assertThat(f.flags()).isEqualTo(0x80000001);
        assertThat(f.unknownFlags()).isEqualTo(0x80000000);
    }

    @Test
    void decodesOptionWithData() {
        EmbeddedChannel ch = channel();
        assertThat(feedWhole(ch, hex(CLIENT_FLAGS, OPT_GO))).isTrue();
        List<Object> out = drainInbound(ch);
        try {
            assertThat(out).hasSize(2);
            assertThat(out.get(0)).isEqualTo(new ClientFlags(3));
            assertOption(out.get(1), NbdOption.GO.code(), "00000004" + "64697363" + "0000");
        } finally {
            release(out);
        }
    }

    @Test
    void decodesFlagsAndOptionFedOneByteAtATimeLikeWholeFeed() {
        EmbeddedChannel whole = channel();
        feedWhole(whole, hex(CLIENT_FLAGS, OPT_GO));
        List<Object> expected = drainInbound(whole);

        EmbeddedChannel ch = channel();
        assertThat(feedByteByByte(ch, hex(CLIENT_FLAGS, OPT_GO))).containsExactly(4, 4 + 26);
        List<Object> out = drainInbound(ch);
        try {
            assertThat(out.get(0)).isEqualTo(expected.get(0));
            OptionRequest o = (OptionRequest) out.get(1);
            OptionRequest e = (OptionRequest) expected.get(1);
            assertThat(o.option()).isEqualTo(e.option());
            assertThat(o.content()).isEqualTo(e.content());
        } finally {
            release(out);
            release(expected);
        }
    }

    @Test
    void decodesOptionSplitAcrossReads() {
        EmbeddedChannel ch = channel();
        // inside the flags, inside IHAVEOPT, inside the length, right after the header, inside the data
        feedSplit(ch, hex(CLIENT_FLAGS, OPT_GO), 2, 9, 18, 20, 25);
        List<Object> out = drainInbound(ch);
        try {
            assertThat(out).hasSize(2);
            assertOption(out.get(1), NbdOption.GO.code(), "00000004" + "64697363" + "0000");
        } finally {
            release(out);
        }
    }

    @Test
    void decodesSeveralOptionsInOneBuffer() {
        EmbeddedChannel ch = channel();
        assertThat(feedWhole(ch, hex(CLIENT_FLAGS, OPT_STRUCTURED_REPLY, OPT_UNKNOWN, OPT_GO))).isTrue();
        List<Object> out = drainInbound(ch);
        try {
            assertThat(out).hasSize(4);
            assertThat(out.get(0)).isEqualTo(new ClientFlags(3));
            assertOption(out.get(1), NbdOption.STRUCTURED_REPLY.code(), "");
            assertOption(out.get(2), 0xffffffff, "7a");
            assertThat(NbdOption.fromCode(((OptionRequest) out.get(2)).option())).isNull();
            assertOption(out.get(3), NbdOption.GO.code(), "00000004" + "64697363" + "0000");
        } finally {
            release(out);
        }
    }

    @Test
    void decodesSeveralOptionsFedOneByteAtATime() {
        EmbeddedChannel ch = channel();
        assertThat(feedByteByByte(ch, hex(CLIENT_FLAGS, OPT_STRUCTURED_REPLY, OPT_UNKNOWN, OPT_GO)))
                .containsExactly(4, 20, 37, 63);
        List<Object> out = drainInbound(ch);
        try {
            assertOption(out.get(1), NbdOption.STRUCTURED_REPLY.code(), "");
            assertOption(out.get(2), 0xffffffff, "7a");
            assertOption(out.get(3), NbdOption.GO.code(), "00000004" + "64697363" + "0000");
        } finally {
            release(out);
        }
    }

    @Test
    void optionDataIsARetainedSliceFreedByReleasingTheOption() {
        EmbeddedChannel ch = channel();
        ByteBuf input = buf(hex(CLIENT_FLAGS, OPT_GO));
        ch.writeInbound(input);
        ch.readInbound(); // ClientFlags
        OptionRequest o = ch.readInbound();
        assertThat(input.refCnt()).isEqualTo(1);
        assertThat(o.release()).isTrue();
        assertThat(input.refCnt()).isZero();
    }

    @Test
    void acceptsOptionDataOfExactlyTheLimit() {
        EmbeddedChannel ch = channel();
        feedWhole(ch, CLIENT_FLAGS);
        ch.readInbound();
        assertThat(feedWhole(ch, hex(
                "49484156454f5054",     // magic IHAVEOPT
                "00000001",             // option: EXPORT_NAME
                "00000020",             // length: 32 == MAX_OPTION
                pattern(32)))).isTrue(); // data
        OptionRequest o = ch.readInbound();
        try {
            assertOption(o, NbdOption.EXPORT_NAME.code(), pattern(32));
        } finally {
            o.release();
        }
    }

    @Test
    void rejectsOptionDataLongerThanTheLimitRightAfterTheHeader() {
        EmbeddedChannel ch = channel();
        feedWhole(ch, CLIENT_FLAGS);
        ch.readInbound();
        assertThatThrownBy(() -> feedWhole(ch, hex(
                "49484156454f5054",     // magic IHAVEOPT
                "00000001",             // option: EXPORT_NAME
                "00000021")))           // length: 33 > MAX_OPTION, no data sent yet
                .isInstanceOf(NbdProtocolException.class)
                .hasMessageContaining("33");
        assertThat(ch.inboundMessages()).isEmpty();
    }

    @Test
    void rejectsOptionOfMaximumUnsignedLength() {
        EmbeddedChannel ch = channel();
        feedWhole(ch, CLIENT_FLAGS);
        ch.readInbound();
        assertThatThrownBy(() -> feedWhole(ch, hex(
                "49484156454f5054",     // magic IHAVEOPT
                "00000007",             // option: GO
                "ffffffff")))           // length: 2^32-1, negative as a signed int
                .isInstanceOf(NbdProtocolException.class)
                .hasMessageContaining("4294967295");
        assertThat(ch.inboundMessages()).isEmpty();
    }

    @Test
    void rejectsBadOptionMagic() {
        EmbeddedChannel ch = channel();
        feedWhole(ch, CLIENT_FLAGS);
        ch.readInbound();
        assertThatThrownBy(() -> feedWhole(ch, hex(
                "49484156454f5055",     // magic: IHAVEOPT with the last bit flipped
                "00000007",             // option: GO
                "00000000")))           // length
                .isInstanceOf(NbdProtocolException.class)
                .isInstanceOf(DecoderException.class)
                .hasMessageContaining("49484156454f5055");
        assertThat(ch.inboundMessages()).isEmpty();
    }

    @Test
    void decodesNoOptionBehindABadMagicWhenTheChannelCloses() {
        EmbeddedChannel ch = channel();
        feedWhole(ch, CLIENT_FLAGS);
        ch.readInbound();
        assertThatThrownBy(() -> feedWhole(ch, hex(
                "0000000000000000",     // magic: zero
                OPT_STRUCTURED_REPLY))) // a whole option right behind it: no option, it follows corruption
                .isInstanceOf(NbdProtocolException.class);
        ch.close();
        assertThat(ch.inboundMessages()).isEmpty();
    }

    @Test
    void rejectsARequestSentInsteadOfAnOption() {
        EmbeddedChannel ch = channel();
        assertThatThrownBy(() -> feedWhole(ch, hex(
                CLIENT_FLAGS,
                "25609513",             // a transmission request: client skipped the handshake
                "0000", "0000",         // flags, type
                "0000000000000001")))   // cookie
                .isInstanceOf(NbdProtocolException.class);
        // the flags before the bad option were delivered
        assertThat(ch.<Object>readInbound()).isEqualTo(new ClientFlags(3));
    }

    @Test
    void handsTheBytesAfterAnOptionToWhateverReplacesTheDecoder() {
        // The handshake handler removes the decoder after GO; bytes already received belong to transmission.
        EmbeddedChannel ch = channels.open();
        ch.pipeline().addLast("handshake", new ServerHandshakeDecoder(MAX_OPTION));
        ch.pipeline().addLast(new ChannelInboundHandlerAdapter() {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                boolean go = msg instanceof OptionRequest o && o.option() == NbdOption.GO.code();
                ctx.fireChannelRead(msg);
                if (go) {
                    ctx.pipeline().remove("handshake"); // hands its buffered bytes on, through this handler
                }
            }
        });
        String request = hex(
                "25609513",             // magic: the first transmission request
                "0000",                 // flags
                "0003",                 // type: FLUSH
                "0000000000000001",     // cookie
                "0000000000000000",     // offset
                "00000000");            // length
        feedWhole(ch, hex(CLIENT_FLAGS, OPT_GO, request));
        List<Object> out = drainInbound(ch);
        try {
            assertThat(out).hasSize(3);
            assertThat(out.get(0)).isEqualTo(new ClientFlags(3));
            assertOption(out.get(1), NbdOption.GO.code(), "00000004" + "64697363" + "0000");
            assertThat(out.get(2)).isInstanceOf(ByteBuf.class);
            assertThat(hexOf((ByteBuf) out.get(2))).isEqualTo(request);
        } finally {
            release(out);
        }
    }

    @Test
    void doesNotDeliverAPartialOptionWhenTheChannelCloses() {
        EmbeddedChannel ch = channel();
        assertThat(feedWhole(ch, hex(CLIENT_FLAGS, OPT_GO.substring(0, 40)))).isTrue();
        ch.readInbound();
        // closed by the channels fixture after the test, which fails it if the partial option comes out then
    }

    @Test
    void discardsTheBytesBehindStartTlsWhileItIsHandled() {
        // STARTTLS: what the client sent behind it in plaintext must never come out as options (CVE-2021-3716)
        String startTls = hex(
                "49484156454f5054",     // magic IHAVEOPT
                "00000005",             // option: STARTTLS
                "00000000");            // length: 0
        ServerHandshakeDecoder decoder = new ServerHandshakeDecoder(MAX_OPTION);
        int[] dropped = {-1};
        EmbeddedChannel ch = channels.open();
        ch.pipeline().addLast(decoder);
        ch.pipeline().addLast(new ChannelInboundHandlerAdapter() {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                if (msg instanceof OptionRequest o && o.option() == NbdOption.STARTTLS.code()) {
                    dropped[0] = decoder.discardBuffered();
                }
                ctx.fireChannelRead(msg);
            }
        });
        // the injected options, and half of a third one
        feedWhole(ch, hex(CLIENT_FLAGS, startTls, OPT_STRUCTURED_REPLY, OPT_GO, OPT_UNKNOWN.substring(0, 20)));
        List<Object> out = drainInbound(ch);
        try {
            assertThat(out).hasSize(2);
            assertOption(out.get(1), NbdOption.STARTTLS.code(), "");
            assertThat(dropped[0]).isEqualTo((OPT_STRUCTURED_REPLY.length() + OPT_GO.length() + 20) / 2);
        } finally {
            release(out);
        }
        // decoding goes on from the next byte received, at an option header
        feedWhole(ch, OPT_UNKNOWN);
        out = drainInbound(ch);
        try {
            assertThat(out).hasSize(1);
            assertOption(out.get(0), 0xffffffff, "7a");
        } finally {
            release(out);
        }
    }
}
