package dev.rbd.protocol.codec;

import static dev.rbd.protocol.codec.CodecTestSupport.buf;
import static dev.rbd.protocol.codec.CodecTestSupport.drainInbound;
import static dev.rbd.protocol.codec.CodecTestSupport.hexOf;
import static dev.rbd.protocol.codec.CodecTestSupport.pattern;
import static dev.rbd.protocol.codec.CodecTestSupport.pump;
import static dev.rbd.protocol.codec.CodecTestSupport.release;
import static org.assertj.core.api.Assertions.assertThat;

import dev.rbd.protocol.EmbeddedChannels;
import dev.rbd.protocol.NbdCommand;
import dev.rbd.protocol.NbdConstants;
import dev.rbd.protocol.NbdError;
import dev.rbd.protocol.NbdRequest;
import dev.rbd.protocol.NbdSimpleReply;
import dev.rbd.protocol.NbdStructuredReply;
import dev.rbd.protocol.NettyLeakCheck;
import io.netty.buffer.ByteBuf;
import io.netty.channel.embedded.EmbeddedChannel;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Client encoders into server decoders and back, each direction through its own channel. */
@ExtendWith(NettyLeakCheck.class)
class TransmissionRoundTripTest {
    private static final int MAX_PAYLOAD = 64;
    private static final int MAX_CHUNK = 128;

    @RegisterExtension
    final EmbeddedChannels channels = new EmbeddedChannels();

    private final EmbeddedChannel clientOut = channels.open(new RequestEncoder());
    private final EmbeddedChannel serverIn = channels.open(new RequestDecoder(MAX_PAYLOAD));
    private final EmbeddedChannel serverOut = channels.open(new ReplyEncoder());
    private final Map<Long, Long> pendingReads = new HashMap<>();
    private final EmbeddedChannel clientIn = channels.open(
            new ReplyDecoder(cookie -> pendingReads.getOrDefault(cookie, -1L), MAX_CHUNK));

    private NbdRequest sendRequest(NbdRequest request) {
        assertThat(clientOut.writeOutbound(request)).isTrue();
        pump(clientOut, serverIn);
        NbdRequest received = serverIn.readInbound();
        assertThat(received).isNotNull();
        return received;
    }

    private <T> T sendReply(Object reply) {
        assertThat(serverOut.writeOutbound(reply)).isTrue();
        pump(serverOut, clientIn);
        T received = clientIn.readInbound();
        assertThat((Object) received).isNotNull();
        return received;
    }

    @ParameterizedTest
    @EnumSource(value = NbdCommand.class, names = "WRITE", mode = EnumSource.Mode.EXCLUDE)
    void roundTripsEveryPayloadlessCommandWithUnsignedExtremes(NbdCommand command) {
        NbdRequest r = sendRequest(NbdRequest.of(0xffff, command, 0x8000000000000000L | command.code(),
                0xffffffffffffffffL, 0xffffffffL));
        try {
            assertThat(r.command()).isEqualTo(command);
            assertThat(r.type()).isEqualTo(command.code());
            assertThat(r.flags()).isEqualTo(0xffff);
            assertThat(r.cookie()).isEqualTo(0x8000000000000000L | command.code());
            assertThat(r.offset()).isEqualTo(0xffffffffffffffffL);
            assertThat(r.length()).isEqualTo(0xffffffffL);
            assertThat(r.content().isReadable()).isFalse();
            assertThat(r.payloadDropped()).isFalse();
        } finally {
            r.release();
        }
    }

    @Test
    void roundTripsWriteWithPayload() {
        NbdRequest r = sendRequest(new NbdRequest(NbdConstants.CMD_FLAG_FUA, NbdCommand.WRITE.code(),
                0xfedcba9876543210L, 0x7fffffffffff0000L, 48, buf(pattern(48))));
        try {
            assertThat(r.command()).isEqualTo(NbdCommand.WRITE);
            assertThat(r.flags()).isEqualTo(NbdConstants.CMD_FLAG_FUA);
            assertThat(r.cookie()).isEqualTo(0xfedcba9876543210L);
            assertThat(r.offset()).isEqualTo(0x7fffffffffff0000L);
            assertThat(r.length()).isEqualTo(48);
            assertThat(hexOf(r.content())).isEqualTo(pattern(48));
            assertThat(r.payloadDropped()).isFalse();
            assertThat(r.refCnt()).isEqualTo(1);
        } finally {
            r.release();
        }
        assertThat(r.refCnt()).isZero();
    }

    @Test
    void roundTripsOversizedWriteAsDroppedAndKeepsTheStreamInSync() {
        clientOut.writeOutbound(new NbdRequest(0, NbdCommand.WRITE.code(), 1, 0, MAX_PAYLOAD + 1,
                buf(pattern(MAX_PAYLOAD + 1))));
        clientOut.writeOutbound(NbdRequest.of(0, NbdCommand.FLUSH, 2, 0, 0));
        pump(clientOut, serverIn);
        List<Object> out = drainInbound(serverIn);
        try {
            assertThat(out).hasSize(2);
            NbdRequest dropped = (NbdRequest) out.get(0);
            assertThat(dropped.payloadDropped()).isTrue();
            assertThat(dropped.cookie()).isEqualTo(1);
            assertThat(dropped.length()).isEqualTo(MAX_PAYLOAD + 1);
            assertThat(((NbdRequest) out.get(1)).command()).isEqualTo(NbdCommand.FLUSH);
            assertThat(((NbdRequest) out.get(1)).cookie()).isEqualTo(2);
        } finally {
            release(out);
        }
    }

    @Test
    void roundTripsUnknownRequestType() {
        NbdRequest r = sendRequest(new NbdRequest(0x8000, 0xffff, -1L, 0, 0, buf("")));
        try {
            assertThat(r.type()).isEqualTo(0xffff);
            assertThat(r.command()).isNull();
            assertThat(r.flags()).isEqualTo(0x8000);
            assertThat(r.cookie()).isEqualTo(-1L);
        } finally {
            r.release();
        }
    }

    @Test
    void roundTripsSimpleReplyWithReadData() {
        pendingReads.put(0x8000000000000009L, 16L);
        NbdSimpleReply r = sendReply(new NbdSimpleReply(0x8000000000000009L, 0, buf(pattern(16))));
        try {
            assertThat(r.cookie()).isEqualTo(0x8000000000000009L);
            assertThat(r.error()).isZero();
            assertThat(hexOf(r.content())).isEqualTo(pattern(16));
        } finally {
            r.release();
        }
    }

    @Test
    void roundTripsSimpleOkReplyWithoutData() {
        NbdSimpleReply r = sendReply(NbdSimpleReply.ok(-2L));
        try {
            assertThat(r.cookie()).isEqualTo(-2L);
            assertThat(r.error()).isZero();
            assertThat(r.content().isReadable()).isFalse();
        } finally {
            r.release();
        }
    }

    @Test
    void roundTripsSimpleErrorReplyForPendingReadWithoutData() {
        pendingReads.put(3L, 16L);
        NbdSimpleReply r = sendReply(NbdSimpleReply.error(3, NbdError.EOVERFLOW));
        try {
            assertThat(r.cookie()).isEqualTo(3);
            assertThat(r.error()).isEqualTo(NbdError.EOVERFLOW.code());
            assertThat(NbdError.fromCode(r.error())).isEqualTo(NbdError.EOVERFLOW);
            assertThat(r.content().isReadable()).isFalse();
        } finally {
            r.release();
        }
    }

    @Test
    void roundTripsOffsetDataChunk() {
        NbdStructuredReply r = sendReply(NbdStructuredReply.offsetData(0x8000000000000004L, 0xffffffffffffff00L,
                buf(pattern(32)), true));
        try {
            assertThat(r.cookie()).isEqualTo(0x8000000000000004L);
            assertThat(r.type()).isEqualTo(NbdConstants.REPLY_TYPE_OFFSET_DATA);
            assertThat(r.isDone()).isTrue();
            assertThat(r.offset()).isEqualTo(0xffffffffffffff00L);
            assertThat(hexOf(r.content())).isEqualTo(pattern(32));
            assertThat(r.payloadLength()).isEqualTo(8 + 32);
        } finally {
            r.release();
        }
    }

    @Test
    void roundTripsErrorChunk() {
        NbdStructuredReply r = sendReply(NbdStructuredReply.error(5, NbdError.ENOTSUP, "not here: \u00e9"));
        try {
            assertThat(r.isError()).isTrue();
            assertThat(r.isDone()).isTrue();
            assertThat(r.errorCode()).isEqualTo(NbdError.ENOTSUP.code());
            assertThat(r.errorMessage()).isEqualTo("not here: \u00e9");
        } finally {
            r.release();
        }
    }

    @Test
    void roundTripsDoneChunkAndUnsignedChunkFields() {
        NbdStructuredReply done = sendReply(NbdStructuredReply.done(-1L));
        NbdStructuredReply odd = sendReply(new NbdStructuredReply(0xfffe, 0xffff, Long.MIN_VALUE, buf("0102")));
        try {
            assertThat(done.cookie()).isEqualTo(-1L);
            assertThat(done.isDone()).isTrue();
            assertThat(done.type()).isEqualTo(NbdConstants.REPLY_TYPE_NONE);
            assertThat(done.content().isReadable()).isFalse();
            assertThat(odd.flags()).isEqualTo(0xfffe);
            assertThat(odd.isDone()).isFalse();
            assertThat(odd.type()).isEqualTo(0xffff);
            assertThat(odd.cookie()).isEqualTo(Long.MIN_VALUE);
            assertThat(odd.payloadHex()).isEqualTo("0102");
        } finally {
            done.release();
            odd.release();
        }
    }

    @Test
    void roundTripsAMixedReplyStreamDeliveredAsOneRead() {
        pendingReads.put(1L, 4L);
        serverOut.writeOutbound(new NbdSimpleReply(1, 0, buf("01020304")),
                NbdStructuredReply.offsetData(2, 512, buf("aabb"), false),
                NbdStructuredReply.done(2),
                NbdSimpleReply.error(1, NbdError.EIO));
        // concatenate everything the server wrote into a single read
        StringBuilder all = new StringBuilder();
        for (ByteBuf b : CodecTestSupport.drainOutbound(serverOut)) {
            all.append(hexOf(b));
            b.release();
        }
        clientIn.writeInbound(buf(all.toString()));
        List<Object> out = drainInbound(clientIn);
        try {
            assertThat(out).hasSize(4);
            assertThat(((NbdSimpleReply) out.get(0)).content().readableBytes()).isEqualTo(4);
            assertThat(((NbdStructuredReply) out.get(1)).offset()).isEqualTo(512);
            assertThat(((NbdStructuredReply) out.get(1)).payloadHex()).isEqualTo("aabb");
            assertThat(((NbdStructuredReply) out.get(1)).isDone()).isFalse();
            assertThat(((NbdStructuredReply) out.get(2)).isDone()).isTrue();
            assertThat(((NbdSimpleReply) out.get(3)).error()).isEqualTo(NbdError.EIO.code());
            assertThat(((NbdSimpleReply) out.get(3)).content().isReadable()).isFalse();
        } finally {
            release(out);
        }
    }
}
