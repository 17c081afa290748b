package dev.rbd.protocol.codec;

import static dev.rbd.protocol.codec.CodecTestSupport.assertPassesThroughUntouched;
import static dev.rbd.protocol.codec.CodecTestSupport.buf;
import static dev.rbd.protocol.codec.CodecTestSupport.drainOutbound;
import static dev.rbd.protocol.codec.CodecTestSupport.drainOutboundHex;
import static dev.rbd.protocol.codec.CodecTestSupport.hex;
import static dev.rbd.protocol.codec.CodecTestSupport.hexOf;
import static dev.rbd.protocol.codec.CodecTestSupport.pattern;
import static dev.rbd.protocol.codec.CodecTestSupport.release;
import static org.assertj.core.api.Assertions.assertThat;

import dev.rbd.protocol.EmbeddedChannels;
import dev.rbd.protocol.NbdError;
import dev.rbd.protocol.NbdSimpleReply;
import dev.rbd.protocol.NbdStructuredReply;
import dev.rbd.protocol.NettyLeakCheck;
import io.netty.buffer.ByteBuf;
import io.netty.channel.embedded.EmbeddedChannel;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.RegisterExtension;

@ExtendWith(NettyLeakCheck.class)
class ReplyEncoderTest {
    @RegisterExtension
    final EmbeddedChannels channels = new EmbeddedChannels();

    private EmbeddedChannel channel() {
        return channels.open(new ReplyEncoder());
    }

    @Test
    void encodesSuccessfulSimpleReplyAsA16ByteHeader() {
        EmbeddedChannel ch = channel();
        assertThat(ch.writeOutbound(NbdSimpleReply.ok(0x8000000000000001L))).isTrue();
        List<ByteBuf> out = drainOutbound(ch);
        try {
            assertThat(out).hasSize(1);
            assertThat(hexOf(out.get(0))).isEqualTo(hex(
                    "67446698",             // magic NBD_SIMPLE_REPLY_MAGIC
                    "00000000",             // error: none
                    "8000000000000001"));   // cookie: top bit set
        } finally {
            release(out);
        }
    }

    @Test
    void encodesSimpleErrorReply() {
        EmbeddedChannel ch = channel();
        ch.writeOutbound(NbdSimpleReply.error(0xffffffffffffffffL, NbdError.ESHUTDOWN));
        assertThat(drainOutboundHex(ch)).isEqualTo(hex(
                "67446698",             // magic
                "0000006c",             // error: ESHUTDOWN (108)
                "ffffffffffffffff"));   // cookie: all bits
    }

    @Test
    void encodesUnknownErrorValueVerbatim() {
        EmbeddedChannel ch = channel();
        ch.writeOutbound(new NbdSimpleReply(1, 0xfffffffe, buf("")));
        assertThat(drainOutboundHex(ch)).isEqualTo(hex(
                "67446698",             // magic
                "fffffffe",             // error: unsigned value kept as is
                "0000000000000001"));   // cookie
    }

    @Test
    void sendsReadDataAsItsOwnBufferWithoutCopying() {
        EmbeddedChannel ch = channel();
        ByteBuf data = buf(pattern(8));
        assertThat(ch.writeOutbound(new NbdSimpleReply(42, 0, data))).isTrue();
        List<ByteBuf> out = drainOutbound(ch);
        try {
            assertThat(out).hasSize(2);
            assertThat(hexOf(out.get(0))).isEqualTo(hex(
                    "67446698",             // magic
                    "00000000",             // error
                    "000000000000002a"));   // cookie: 42
            assertThat(out.get(1)).isSameAs(data);
            assertThat(data.refCnt()).isEqualTo(1);
        } finally {
            release(out);
        }
        assertThat(data.refCnt()).isZero();
    }

    @Test
    void encodesDoneChunkAsA20ByteHeader() {
        EmbeddedChannel ch = channel();
        ch.writeOutbound(NbdStructuredReply.done(0x8000000000000002L));
        List<ByteBuf> out = drainOutbound(ch);
        try {
            assertThat(out).hasSize(1);
            assertThat(hexOf(out.get(0))).isEqualTo(hex(
                    "668e33ef",             // magic NBD_STRUCTURED_REPLY_MAGIC
                    "0001",                 // flags: DONE
                    "0000",                 // type: NONE
                    "8000000000000002",     // cookie: top bit set
                    "00000000"));           // length: 0
        } finally {
            release(out);
        }
    }

    @Test
    void encodesOffsetDataChunkWithTheOffsetInTheHeaderBufferAndTheDataUncopied() {
        EmbeddedChannel ch = channel();
        ByteBuf data = buf("a1a2a3a4a5");
        NbdStructuredReply chunk = NbdStructuredReply.offsetData(7, 0xfffffffffffffff0L, data, false);
        assertThat(ch.writeOutbound(chunk)).isTrue();
        List<ByteBuf> out = drainOutbound(ch);
        try {
            assertThat(out).hasSize(2);
            assertThat(hexOf(out.get(0))).isEqualTo(hex(
                    "668e33ef",             // magic
                    "0000",                 // flags: not DONE
                    "0001",                 // type: OFFSET_DATA
                    "0000000000000007",     // cookie
                    "0000000d",             // length: 8 (offset) + 5 (data)
                    "fffffffffffffff0"));   // offset: unsigned, near 2^64
            assertThat(out.get(1)).isSameAs(data);
            assertThat(hexOf(out.get(1))).isEqualTo("a1a2a3a4a5");
            assertThat(data.refCnt()).isEqualTo(1);
        } finally {
            release(out);
        }
        assertThat(data.refCnt()).isZero();
    }

    @Test
    void encodesDoneOffsetDataChunk() {
        EmbeddedChannel ch = channel();
        ch.writeOutbound(NbdStructuredReply.offsetData(0x8000000000000000L, 512, buf("ff"), true));
        assertThat(drainOutboundHex(ch)).isEqualTo(hex(
                "668e33ef",             // magic
                "0001",                 // flags: DONE
                "0001",                 // type: OFFSET_DATA
                "8000000000000000",     // cookie: top bit set
                "00000009",             // length: 8 + 1
                "0000000000000200",     // offset: 512
                "ff"));                 // data
    }

    @Test
    void encodesErrorChunkWithErrorLengthAndMessage() {
        EmbeddedChannel ch = channel();
        ch.writeOutbound(NbdStructuredReply.error(9, NbdError.ENOSPC, "full"));
        assertThat(drainOutboundHex(ch)).isEqualTo(hex(
                "668e33ef",             // magic
                "0001",                 // flags: DONE
                "8001",                 // type: ERROR
                "0000000000000009",     // cookie
                "0000000a",             // length: 4 + 2 + 4
                "0000001c",             // error: ENOSPC (28)
                "0004",                 // message length
                "66756c6c"));           // "full"
    }

    @Test
    void encodesUnsignedChunkFlagsAndTypeVerbatim() {
        EmbeddedChannel ch = channel();
        ch.writeOutbound(new NbdStructuredReply(0xffff, 0xfffe, 0xffffffffffffffffL, buf("00")));
        assertThat(drainOutboundHex(ch)).isEqualTo(hex(
                "668e33ef",             // magic
                "ffff",                 // flags: all bits
                "fffe",                 // type: unknown error type
                "ffffffffffffffff",     // cookie
                "00000001",             // length
                "00"));                 // payload
    }

    @Test
    void encodesSeveralRepliesInOrder() {
        EmbeddedChannel ch = channel();
        ch.writeOutbound(NbdSimpleReply.ok(1), NbdStructuredReply.done(2), NbdSimpleReply.error(3, NbdError.EIO));
        assertThat(drainOutboundHex(ch)).isEqualTo(hex(
                "67446698", "00000000", "0000000000000001",                         // simple ok, cookie 1
                "668e33ef", "0001", "0000", "0000000000000002", "00000000",         // done, cookie 2
                "67446698", "00000005", "0000000000000003"));                       // simple EIO, cookie 3
    }

    @Test
    void passesOtherMessagesThroughUntouched() {
        assertPassesThroughUntouched(channel(), "0102");
    }
}
