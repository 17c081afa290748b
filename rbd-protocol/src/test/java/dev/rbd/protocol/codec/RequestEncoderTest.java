package dev.rbd.protocol.codec;

import static dev.rbd.protocol.codec.CodecTestSupport.assertPassesThroughUntouched;
import static dev.rbd.protocol.codec.CodecTestSupport.buf;
import static dev.rbd.protocol.codec.CodecTestSupport.drainOutbound;
import static dev.rbd.protocol.codec.CodecTestSupport.drainOutboundHex;
import static dev.rbd.protocol.codec.CodecTestSupport.hex;
import static dev.rbd.protocol.codec.CodecTestSupport.hexOf;
import static dev.rbd.protocol.codec.CodecTestSupport.release;
import static org.assertj.core.api.Assertions.assertThat;

import dev.rbd.protocol.EmbeddedChannels;
import dev.rbd.protocol.NbdCommand;
import dev.rbd.protocol.NbdConstants;
import dev.rbd.protocol.NbdRequest;
import dev.rbd.protocol.NettyLeakCheck;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.RegisterExtension;

@ExtendWith(NettyLeakCheck.class)
class RequestEncoderTest {
    @RegisterExtension
    final EmbeddedChannels channels = new EmbeddedChannels();

    private EmbeddedChannel channel() {
        return channels.open(new RequestEncoder());
    }

    @Test
    void encodesReadRequestAsA28ByteHeader() {
        EmbeddedChannel ch = channel();
        assertThat(ch.writeOutbound(NbdRequest.of(0, NbdCommand.READ, 0x0102030405060708L, 0x200, 0x1000))).isTrue();
        List<ByteBuf> out = drainOutbound(ch);
        try {
            assertThat(out).hasSize(1);
            assertThat(hexOf(out.get(0))).isEqualTo(hex(
                    "25609513",             // magic
                    "0000",                 // flags
                    "0000",                 // type: READ
                    "0102030405060708",     // cookie
                    "0000000000000200",     // offset: 512
                    "00001000"));           // length: 4096
        } finally {
            release(out);
        }
    }

    @Test
    void encodesUnsignedExtremesVerbatim() {
        EmbeddedChannel ch = channel();
        ch.writeOutbound(NbdRequest.of(0xffff, NbdCommand.TRIM, 0x8000000000000000L, 0xffffffffffffffffL,
                0xffffffffL));
        assertThat(drainOutboundHex(ch)).isEqualTo(hex(
                "25609513",             // magic
                "ffff",                 // flags: all bits
                "0004",                 // type: TRIM
                "8000000000000000",     // cookie: top bit set
                "ffffffffffffffff",     // offset: 2^64-1
                "ffffffff"));           // length: 2^32-1
    }

    @Test
    void encodesEveryCommandTypeAndFlag() {
        EmbeddedChannel ch = channel();
        for (NbdCommand c : NbdCommand.values()) {
            if (c == NbdCommand.WRITE) {
                continue;
            }
            ch.writeOutbound(NbdRequest.of(NbdConstants.CMD_FLAG_DF | NbdConstants.CMD_FLAG_REQ_ONE, c, c.code(),
                    0, 0));
            assertThat(drainOutboundHex(ch)).as(c.name()).isEqualTo(hex(
                    "25609513",             // magic
                    "000c",                 // flags: DF | REQ_ONE
                    "000" + c.code(),       // type
                    "000000000000000" + c.code(), // cookie
                    "0000000000000000",     // offset
                    "00000000"));           // length
        }
    }

    @Test
    void encodesUnknownTypeAsItsWireValue() {
        EmbeddedChannel ch = channel();
        ch.writeOutbound(new NbdRequest(0, 0xabcd, 1, 2, 3, Unpooled.EMPTY_BUFFER));
        assertThat(drainOutboundHex(ch)).isEqualTo(hex(
                "25609513",             // magic
                "0000",                 // flags
                "abcd",                 // type: unknown
                "0000000000000001",     // cookie
                "0000000000000002",     // offset
                "00000003"));           // length
    }

    @Test
    void sendsWritePayloadAsItsOwnBufferWithoutCopying() {
        EmbeddedChannel ch = channel();
        ByteBuf payload = buf("cafebabe");
        NbdRequest write = new NbdRequest(NbdConstants.CMD_FLAG_FUA, NbdCommand.WRITE.code(), 0xfedcba9876543210L,
                4096, 4, payload);
        assertThat(ch.writeOutbound(write)).isTrue();
        List<ByteBuf> out = drainOutbound(ch);
        try {
            assertThat(out).hasSize(2);
            assertThat(hexOf(out.get(0))).isEqualTo(hex(
                    "25609513",             // magic
                    "0001",                 // flags: FUA
                    "0001",                 // type: WRITE
                    "fedcba9876543210",     // cookie: top bit set
                    "0000000000001000",     // offset: 4096
                    "00000004"));           // length: 4
            assertThat(out.get(1)).isSameAs(payload);
            // the request's reference went with the encoded message; the outbound one is all that is left
            assertThat(payload.refCnt()).isEqualTo(1);
        } finally {
            release(out);
        }
        assertThat(payload.refCnt()).isZero();
    }

    @Test
    void sendsOnlyTheReadablePartOfTheWritePayload() {
        EmbeddedChannel ch = channel();
        ByteBuf payload = buf("00112233");
        payload.skipBytes(2);
        ch.writeOutbound(new NbdRequest(0, NbdCommand.WRITE.code(), 1, 0, 2, payload));
        assertThat(drainOutboundHex(ch)).endsWith("00000002" + "2233");
    }

    @Test
    void encodesEmptyWriteAsHeaderOnly() {
        EmbeddedChannel ch = channel();
        ch.writeOutbound(new NbdRequest(0, NbdCommand.WRITE.code(), 7, 0, 0, Unpooled.EMPTY_BUFFER));
        List<ByteBuf> out = drainOutbound(ch);
        try {
            assertThat(out).hasSize(1);
            assertThat(out.get(0).readableBytes()).isEqualTo(NbdConstants.REQUEST_HEADER_LENGTH);
        } finally {
            release(out);
        }
    }

    @Test
    void encodesSeveralRequestsInOrder() {
        EmbeddedChannel ch = channel();
        ch.writeOutbound(NbdRequest.of(0, NbdCommand.FLUSH, 1, 0, 0),
                new NbdRequest(0, NbdCommand.WRITE.code(), 2, 0, 1, buf("ff")),
                NbdRequest.of(0, NbdCommand.DISC, 3, 0, 0));
        assertThat(drainOutboundHex(ch)).isEqualTo(hex(
                "25609513", "0000", "0003", "0000000000000001", "0000000000000000", "00000000", // FLUSH
                "25609513", "0000", "0001", "0000000000000002", "0000000000000000", "00000001", // WRITE
                "ff",                                                                           // its payload
                "25609513", "0000", "0002", "0000000000000003", "0000000000000000", "00000000")); // DISC
    }

    @Test
    void passesOtherMessagesThroughUntouched() {
        assertPassesThroughUntouched(channel(), "0102");
    }
}
