package dev.rbd.protocol.codec;

import static dev.rbd.protocol.codec.CodecTestSupport.assertPassesThroughUntouched;
import static dev.rbd.protocol.codec.CodecTestSupport.buf;
import static dev.rbd.protocol.codec.CodecTestSupport.drainOutboundHex;
import static dev.rbd.protocol.codec.CodecTestSupport.hex;
import static org.assertj.core.api.Assertions.assertThat;

import dev.rbd.protocol.EmbeddedChannels;
import dev.rbd.protocol.ExportNameReply;
import dev.rbd.protocol.NbdConstants;
import dev.rbd.protocol.NbdOption;
import dev.rbd.protocol.NbdReplyType;
import dev.rbd.protocol.NettyLeakCheck;
import dev.rbd.protocol.OptionReply;
import dev.rbd.protocol.ServerGreeting;
import io.netty.buffer.ByteBuf;
import io.netty.channel.embedded.EmbeddedChannel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.RegisterExtension;

@ExtendWith(NettyLeakCheck.class)
class ServerHandshakeEncoderTest {
    @RegisterExtension
    final EmbeddedChannels channels = new EmbeddedChannels();

    private EmbeddedChannel channel() {
        return channels.open(new ServerHandshakeEncoder());
    }

    @Test
    void encodesNewstyleGreeting() {
        EmbeddedChannel ch = channel();
        assertThat(ch.writeOutbound(new ServerGreeting(
                NbdConstants.FLAG_FIXED_NEWSTYLE | NbdConstants.FLAG_NO_ZEROES))).isTrue();
        assertThat(drainOutboundHex(ch)).isEqualTo(hex(
                "4e42444d41474943",     // magic NBDMAGIC ("NBDMAGIC")
                "49484156454f5054",     // magic IHAVEOPT ("IHAVEOPT")
                "0003"));               // handshake flags: FIXED_NEWSTYLE | NO_ZEROES
    }

    @Test
    void encodesGreetingWithAllHandshakeFlagBits() {
        EmbeddedChannel ch = channel();
        ch.writeOutbound(new ServerGreeting(0xffff));
        assertThat(drainOutboundHex(ch)).endsWith("ffff").hasSize(36);
    }

    @Test
    void encodesAckOptionReply() {
        EmbeddedChannel ch = channel();
        ch.writeOutbound(OptionReply.ack(NbdOption.STRUCTURED_REPLY.code()));
        assertThat(drainOutboundHex(ch)).isEqualTo(hex(
                "0003e889045565a9",     // magic: option reply
                "00000008",             // option: STRUCTURED_REPLY
                "00000001",             // reply type: ACK
                "00000000"));           // length: 0
    }

    @Test
    void encodesOptionReplyWithDataAndReleasesIt() {
        EmbeddedChannel ch = channel();
        ByteBuf data = buf(hex(
                "0000",                 // info type: EXPORT
                "0000000000100000",     // size: 1 MiB
                "0003"));               // transmission flags
        assertThat(ch.writeOutbound(new OptionReply(NbdOption.GO.code(), NbdReplyType.INFO.code(), data))).isTrue();
        assertThat(drainOutboundHex(ch)).isEqualTo(hex(
                "0003e889045565a9",     // magic: option reply
                "00000007",             // option: GO
                "00000003",             // reply type: INFO
                "0000000c",             // length: 12
                "0000",                 // info type: EXPORT
                "0000000000100000",     // size: 1 MiB
                "0003"));               // transmission flags
        assertThat(data.refCnt()).isZero();
    }

    @Test
    void encodesErrorOptionReplyWithItsMessage() {
        EmbeddedChannel ch = channel();
        ch.writeOutbound(OptionReply.error(0xdeadbeef, NbdReplyType.ERR_UNSUP, "no"));
        assertThat(drainOutboundHex(ch)).isEqualTo(hex(
                "0003e889045565a9",     // magic: option reply
                "deadbeef",             // option: unknown, echoed back
                "80000001",             // reply type: ERR_UNSUP (bit 31 set)
                "00000002",             // length: 2
                "6e6f"));               // "no"
    }

    @Test
    void encodesOnlyTheReadablePartOfOptionReplyData() {
        EmbeddedChannel ch = channel();
        ByteBuf data = buf("aabbcc");
        data.skipBytes(1);
        ch.writeOutbound(new OptionReply(1, 3, data));
        assertThat(drainOutboundHex(ch)).endsWith("00000002" + "bbcc");
    }

    @Test
    void encodesExportNameReplyWith124Zeroes() {
        EmbeddedChannel ch = channel();
        ch.writeOutbound(new ExportNameReply(0xffffffffffffffffL, 0xffff, false));
        assertThat(drainOutboundHex(ch)).isEqualTo(hex(
                "ffffffffffffffff",     // size: 2^64-1
                "ffff",                 // transmission flags: all bits
                "00".repeat(124)));     // 124 zero bytes
    }

    @Test
    void encodesExportNameReplyWithoutZeroesWhenNoZeroesWasAgreed() {
        EmbeddedChannel ch = channel();
        ch.writeOutbound(new ExportNameReply(1L << 30, NbdConstants.FLAG_HAS_FLAGS | NbdConstants.FLAG_SEND_FLUSH,
                true));
        assertThat(drainOutboundHex(ch)).isEqualTo(hex(
                "0000000040000000",     // size: 1 GiB
                "0005"));               // transmission flags: HAS_FLAGS | SEND_FLUSH
    }

    @Test
    void passesOtherMessagesThroughUntouched() {
        assertPassesThroughUntouched(channel(), "01");
    }
}
