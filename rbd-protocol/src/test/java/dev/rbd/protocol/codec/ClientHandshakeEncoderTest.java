package dev.rbd.protocol.codec;

import static dev.rbd.protocol.codec.CodecTestSupport.assertPassesThroughUntouched;
import static dev.rbd.protocol.codec.CodecTestSupport.buf;
import static dev.rbd.protocol.codec.CodecTestSupport.drainOutboundHex;
import static dev.rbd.protocol.codec.CodecTestSupport.hex;
import static org.assertj.core.api.Assertions.assertThat;

import dev.rbd.protocol.ClientFlags;
import dev.rbd.protocol.EmbeddedChannels;
import dev.rbd.protocol.NbdOption;
import dev.rbd.protocol.NettyLeakCheck;
import dev.rbd.protocol.OptionRequest;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.RegisterExtension;

@ExtendWith(NettyLeakCheck.class)
class ClientHandshakeEncoderTest {
    @RegisterExtension
    final EmbeddedChannels channels = new EmbeddedChannels();

    private EmbeddedChannel channel() {
        return channels.open(new ClientHandshakeEncoder());
    }

    @Test
    void encodesClientFlagsAsU32() {
        EmbeddedChannel ch = channel();
        assertThat(ch.writeOutbound(new ClientFlags(0x80000003))).isTrue();
        assertThat(drainOutboundHex(ch)).isEqualTo(hex(
                "80000003"));           // client flags: FIXED_NEWSTYLE | NO_ZEROES | bit 31
    }

    @Test
    void encodesOptionWithDataAndReleasesIt() {
        EmbeddedChannel ch = channel();
        ByteBuf data = buf(hex(
                "00000004",             // export name length
                "64697363",             // export name: "disc"
                "0000"));               // info requests: 0
        assertThat(ch.writeOutbound(new OptionRequest(NbdOption.GO.code(), data))).isTrue();
        assertThat(drainOutboundHex(ch)).isEqualTo(hex(
                "49484156454f5054",     // magic IHAVEOPT
                "00000007",             // option: GO
                "0000000a",             // length: 10
                "00000004",             // export name length
                "64697363",             // export name: "disc"
                "0000"));               // info requests: 0
        assertThat(data.refCnt()).isZero();
    }

    @Test
    void encodesOptionWithoutData() {
        EmbeddedChannel ch = channel();
        ch.writeOutbound(new OptionRequest(NbdOption.ABORT.code(), Unpooled.EMPTY_BUFFER));
        assertThat(drainOutboundHex(ch)).isEqualTo(hex(
                "49484156454f5054",     // magic IHAVEOPT
                "00000002",             // option: ABORT
                "00000000"));           // length: 0
    }

    @Test
    void encodesUnknownOptionAndOnlyTheReadableData() {
        EmbeddedChannel ch = channel();
        ByteBuf data = buf("ff0102");
        data.skipBytes(1);
        ch.writeOutbound(new OptionRequest(0xfffffff0, data));
        assertThat(drainOutboundHex(ch)).isEqualTo(hex(
                "49484156454f5054",     // magic IHAVEOPT
                "fffffff0",             // option: unknown, top bit set
                "00000002",             // length: 2
                "0102"));               // data after the reader index
    }

    @Test
    void encodesFlagsThenSeveralOptionsInOrder() {
        EmbeddedChannel ch = channel();
        ch.writeOutbound(new ClientFlags(1), new OptionRequest(NbdOption.STRUCTURED_REPLY.code(),
                Unpooled.EMPTY_BUFFER), new OptionRequest(NbdOption.EXPORT_NAME.code(), buf("78")));
        assertThat(drainOutboundHex(ch)).isEqualTo(hex(
                "00000001",                                             // client flags: FIXED_NEWSTYLE
                "49484156454f5054", "00000008", "00000000",             // STRUCTURED_REPLY, no data
                "49484156454f5054", "00000001", "00000001", "78"));     // EXPORT_NAME "x"
    }

    @Test
    void passesOtherMessagesThroughUntouched() {
        assertPassesThroughUntouched(channel(), "01");
    }
}
