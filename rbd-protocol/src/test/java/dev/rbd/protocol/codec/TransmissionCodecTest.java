package dev.rbd.protocol.codec;

import static dev.rbd.protocol.codec.CodecTestSupport.buf;
import static dev.rbd.protocol.codec.CodecTestSupport.drainInbound;
import static dev.rbd.protocol.codec.CodecTestSupport.drainOutboundHex;
import static dev.rbd.protocol.codec.CodecTestSupport.feedWhole;
import static dev.rbd.protocol.codec.CodecTestSupport.hex;
import static dev.rbd.protocol.codec.CodecTestSupport.hexOf;
import static dev.rbd.protocol.codec.CodecTestSupport.pattern;
import static dev.rbd.protocol.codec.CodecTestSupport.pump;
import static dev.rbd.protocol.codec.CodecTestSupport.release;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.rbd.protocol.EmbeddedChannels;
import dev.rbd.protocol.NbdCommand;
import dev.rbd.protocol.NbdError;
import dev.rbd.protocol.NbdProtocolException;
import dev.rbd.protocol.NbdRequest;
import dev.rbd.protocol.NbdSimpleReply;
import dev.rbd.protocol.NbdStructuredReply;
import dev.rbd.protocol.NettyLeakCheck;
import io.netty.channel.embedded.EmbeddedChannel;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.RegisterExtension;

/** {@link ServerTransmissionCodec} and {@link ClientTransmissionCodec}: each side's decoder and encoder in one. */
@ExtendWith(NettyLeakCheck.class)
class TransmissionCodecTest {
    private static final int MAX_PAYLOAD = 32;
    private static final int MAX_CHUNK = 64;

    @RegisterExtension
    final EmbeddedChannels channels = new EmbeddedChannels();

    private final Map<Long, Long> pendingReads = new HashMap<>();

    private EmbeddedChannel client() {
        return channels.open(new ClientTransmissionCodec(c -> pendingReads.getOrDefault(c, -1L), MAX_CHUNK));
    }

    private EmbeddedChannel server() {
        return channels.open(new ServerTransmissionCodec(MAX_PAYLOAD));
    }

    @Test
    void serverCodecDecodesRequestsAndEncodesReplies() {
        EmbeddedChannel server = server();
        assertThat(feedWhole(server, hex(
                "25609513",             // magic
                "0000",                 // flags
                "0000",                 // type: READ
                "8000000000000001",     // cookie: top bit set
                "0000000000000000",     // offset
                "00000002"))).isTrue(); // length: 2
        NbdRequest read = server.readInbound();
        try {
            assertThat(read.command()).isEqualTo(NbdCommand.READ);
            assertThat(read.cookie()).isEqualTo(0x8000000000000001L);
            server.writeOutbound(new NbdSimpleReply(read.cookie(), 0, buf("abcd")));
        } finally {
            read.release();
        }
        assertThat(drainOutboundHex(server)).isEqualTo(hex(
                "67446698",             // magic
                "00000000",             // error
                "8000000000000001",     // cookie
                "abcd"));               // data
    }

    @Test
    void serverCodecSkipsOversizedWriteAndRejectsCorruption() {
        EmbeddedChannel server = server();
        assertThat(feedWhole(server, hex(
                "25609513",             // magic
                "0000",                 // flags
                "0001",                 // type: WRITE
                "0000000000000001",     // cookie
                "0000000000000000",     // offset
                "00000021",             // length: 33 > MAX_PAYLOAD
                pattern(33)))).isTrue(); // payload, skipped
        NbdRequest dropped = server.readInbound();
        assertThat(dropped.payloadDropped()).isTrue();
        dropped.release();
        assertThatThrownBy(() -> feedWhole(server, hex(
                "25609513",             // magic
                "0000",                 // flags
                "0001",                 // type: WRITE
                "0000000000000002",     // cookie
                "0000000000000000",     // offset
                "04000001")))           // length: 2^26 + 1, above twice the portable 32 MiB
                .isInstanceOf(NbdProtocolException.class);
        assertThat(server.inboundMessages()).isEmpty();
    }

    @Test
    void clientCodecEncodesRequestsAndDecodesReplies() {
        EmbeddedChannel client = client();
        pendingReads.put(7L, 3L);
        client.writeOutbound(NbdRequest.of(0, NbdCommand.READ, 7, 0x1000, 3));
        assertThat(drainOutboundHex(client)).isEqualTo(hex(
                "25609513",             // magic
                "0000",                 // flags
                "0000",                 // type: READ
                "0000000000000007",     // cookie
                "0000000000001000",     // offset
                "00000003"));           // length
        assertThat(feedWhole(client, hex(
                "67446698",             // magic
                "00000000",             // error
                "0000000000000007",     // cookie: the pending READ
                "010203"))).isTrue();   // data
        NbdSimpleReply reply = client.readInbound();
        try {
            assertThat(hexOf(reply.content())).isEqualTo("010203");
        } finally {
            reply.release();
        }
    }

    @Test
    void clientCodecRejectsChunkLongerThanMaxChunk() {
        EmbeddedChannel client = client();
        assertThatThrownBy(() -> feedWhole(client, hex(
                "668e33ef",             // magic
                "0001",                 // flags: DONE
                "0001",                 // type: OFFSET_DATA
                "0000000000000001",     // cookie
                "00000041")))           // length: 65 > MAX_CHUNK
                .isInstanceOf(NbdProtocolException.class);
    }

    @Test
    void clientAndServerCodecsTalkToEachOther() {
        EmbeddedChannel client = client();
        EmbeddedChannel server = server();

        pendingReads.put(1L, 8L);
        client.writeOutbound(NbdRequest.of(0, NbdCommand.READ, 1, 0xffffffffffff0000L, 8),
                new NbdRequest(1, NbdCommand.WRITE.code(), 0x8000000000000002L, 8, 4, buf("c0ffee00")),
                NbdRequest.of(0, NbdCommand.BLOCK_STATUS, 3, 0, 0xffffffffL));
        pump(client, server);
        List<Object> requests = drainInbound(server);
        try {
            assertThat(requests).hasSize(3);
            NbdRequest read = (NbdRequest) requests.get(0);
            NbdRequest write = (NbdRequest) requests.get(1);
            NbdRequest status = (NbdRequest) requests.get(2);
            assertThat(read.offset()).isEqualTo(0xffffffffffff0000L);
            assertThat(write.cookie()).isEqualTo(0x8000000000000002L);
            assertThat(hexOf(write.content())).isEqualTo("c0ffee00");
            assertThat(status.command()).isEqualTo(NbdCommand.BLOCK_STATUS);
            assertThat(status.length()).isEqualTo(0xffffffffL);

            server.writeOutbound(new NbdSimpleReply(read.cookie(), 0, buf(pattern(8))),
                    NbdSimpleReply.ok(write.cookie()),
                    NbdStructuredReply.error(status.cookie(), NbdError.ENOTSUP, "no block status"));
        } finally {
            release(requests);
        }
        pump(server, client);
        List<Object> replies = drainInbound(client);
        try {
            assertThat(replies).hasSize(3);
            assertThat(hexOf(((NbdSimpleReply) replies.get(0)).content())).isEqualTo(pattern(8));
            assertThat(((NbdSimpleReply) replies.get(1)).cookie()).isEqualTo(0x8000000000000002L);
            assertThat(((NbdSimpleReply) replies.get(1)).content().isReadable()).isFalse();
            NbdStructuredReply err = (NbdStructuredReply) replies.get(2);
            assertThat(err.cookie()).isEqualTo(3);
            assertThat(err.errorCode()).isEqualTo(NbdError.ENOTSUP.code());
            assertThat(err.errorMessage()).isEqualTo("no block status");
        } finally {
            release(replies);
        }
    }
}
