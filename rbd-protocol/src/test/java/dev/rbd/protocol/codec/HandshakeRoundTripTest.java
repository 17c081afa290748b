package dev.rbd.protocol.codec;

import static dev.rbd.protocol.codec.CodecTestSupport.buf;
import static dev.rbd.protocol.codec.CodecTestSupport.drainInbound;
import static dev.rbd.protocol.codec.CodecTestSupport.hexOf;
import static dev.rbd.protocol.codec.CodecTestSupport.pump;
import static dev.rbd.protocol.codec.CodecTestSupport.release;
import static org.assertj.core.api.Assertions.assertThat;

import dev.rbd.protocol.ClientFlags;
import dev.rbd.protocol.EmbeddedChannels;
import dev.rbd.protocol.ExportNameReply;
import dev.rbd.protocol.NbdConstants;
import dev.rbd.protocol.NbdOption;
import dev.rbd.protocol.NbdReplyType;
import dev.rbd.protocol.NettyLeakCheck;
import dev.rbd.protocol.OptionReply;
import dev.rbd.protocol.OptionRequest;
import dev.rbd.protocol.ServerGreeting;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Client handshake encoder/decoder against the server's, in both directions. */
@ExtendWith(NettyLeakCheck.class)
class HandshakeRoundTripTest {
    private static final int MAX = 4096;

    @RegisterExtension
    final EmbeddedChannels channels = new EmbeddedChannels();

    private final ClientHandshakeDecoder clientDecoder = new ClientHandshakeDecoder(MAX);
    private final EmbeddedChannel client = channels.open(clientDecoder, new ClientHandshakeEncoder());
    private final EmbeddedChannel server = channels.open(new ServerHandshakeDecoder(MAX),
            new ServerHandshakeEncoder());

    @Test
    void greetingTravelsFromServerToClient() {
        server.writeOutbound(new ServerGreeting(0xffff));
        pump(server, client);
        assertThat(client.<Object>readInbound()).isEqualTo(new ServerGreeting(0xffff));
    }

    @Test
    void clientFlagsAndOptionsTravelFromClientToServer() {
        client.writeOutbound(new ClientFlags(0xffffffff),
                new OptionRequest(NbdOption.GO.code(), buf("0000000464697363" + "0001" + "0003")),
                new OptionRequest(NbdOption.STRUCTURED_REPLY.code(), Unpooled.EMPTY_BUFFER),
                new OptionRequest(0x80000000, buf("ff")));
        pump(client, server);
        List<Object> out = drainInbound(server);
        try {
            assertThat(out).hasSize(4);
            ClientFlags flags = (ClientFlags) out.get(0);
            assertThat(flags.flags()).isEqualTo(0xffffffff);
            assertThat(flags.unknownFlags()).isEqualTo(~NbdConstants.KNOWN_CLIENT_FLAGS);
            OptionRequest go = (OptionRequest) out.get(1);
            assertThat(go.option()).isEqualTo(NbdOption.GO.code());
            assertThat(hexOf(go.content())).isEqualTo("0000000464697363" + "0001" + "0003");
            OptionRequest sr = (OptionRequest) out.get(2);
            assertThat(sr.option()).isEqualTo(NbdOption.STRUCTURED_REPLY.code());
            assertThat(sr.content().isReadable()).isFalse();
            OptionRequest unknown = (OptionRequest) out.get(3);
            assertThat(unknown.option()).isEqualTo(0x80000000);
            assertThat(NbdOption.describe(unknown.option())).isEqualTo("option 2147483648");
            assertThat(hexOf(unknown.content())).isEqualTo("ff");
        } finally {
            release(out);
        }
    }

    @Test
    void optionRepliesTravelFromServerToClient() {
        server.writeOutbound(new ServerGreeting(NbdConstants.FLAG_FIXED_NEWSTYLE),
                OptionReply.ack(NbdOption.STRUCTURED_REPLY.code()),
                new OptionReply(NbdOption.GO.code(), NbdReplyType.INFO.code(), buf("0000" + "ffffffffffffffff" + "0001")),
                OptionReply.error(0xfffffffe, NbdReplyType.ERR_EXT_HEADER_REQD, "\u00fcber"));
        pump(server, client);
        List<Object> out = drainInbound(client);
        try {
            assertThat(out).hasSize(4);
            assertThat(out.get(0)).isEqualTo(new ServerGreeting(1));
            OptionReply ack = (OptionReply) out.get(1);
            assertThat(ack.option()).isEqualTo(NbdOption.STRUCTURED_REPLY.code());
            assertThat(ack.replyType()).isEqualTo(NbdReplyType.ACK);
            assertThat(ack.content().isReadable()).isFalse();
            OptionReply info = (OptionReply) out.get(2);
            assertThat(info.replyType()).isEqualTo(NbdReplyType.INFO);
            assertThat(hexOf(info.content())).isEqualTo("0000" + "ffffffffffffffff" + "0001");
            OptionReply err = (OptionReply) out.get(3);
            assertThat(err.option()).isEqualTo(0xfffffffe);
            assertThat(err.type()).isEqualTo(0x8000000a);
            assertThat(err.replyType()).isEqualTo(NbdReplyType.ERR_EXT_HEADER_REQD);
            assertThat(err.content().toString(java.nio.charset.StandardCharsets.UTF_8)).isEqualTo("\u00fcber");
        } finally {
            release(out);
        }
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void exportNameReplyTravelsWithAndWithoutZeroes(boolean noZeroes) {
        server.writeOutbound(new ServerGreeting(NbdConstants.FLAG_FIXED_NEWSTYLE | NbdConstants.FLAG_NO_ZEROES));
        pump(server, client);
        assertThat(client.<Object>readInbound()).isInstanceOf(ServerGreeting.class);

        client.writeOutbound(new ClientFlags(NbdConstants.FLAG_C_FIXED_NEWSTYLE
                        | (noZeroes ? NbdConstants.FLAG_C_NO_ZEROES : 0)),
                new OptionRequest(NbdOption.EXPORT_NAME.code(), buf("64697363")));
        clientDecoder.expectExportNameReply(noZeroes);
        pump(client, server);
        ClientFlags flags = server.readInbound();
        assertThat(flags.noZeroes()).isEqualTo(noZeroes);
        OptionRequest exportName = server.readInbound();
        try {
            assertThat(exportName.option()).isEqualTo(NbdOption.EXPORT_NAME.code());
            assertThat(hexOf(exportName.content())).isEqualTo("64697363");
        } finally {
            exportName.release();
        }

        ExportNameReply sent = new ExportNameReply(0xffffffffffffffffL, 0xffff, flags.noZeroes());
        server.writeOutbound(sent);
        pump(server, client);
        assertThat(client.<Object>readInbound()).isEqualTo(sent);
    }

    @Test
    void fullFixedNewstyleHandshakeEndsWithGo() {
        server.writeOutbound(new ServerGreeting(NbdConstants.FLAG_FIXED_NEWSTYLE | NbdConstants.FLAG_NO_ZEROES));
        pump(server, client);
        ServerGreeting greeting = client.readInbound();
        assertThat(greeting.handshakeFlags() & NbdConstants.FLAG_FIXED_NEWSTYLE).isNotZero();

        client.writeOutbound(new ClientFlags(NbdConstants.FLAG_C_FIXED_NEWSTYLE | NbdConstants.FLAG_C_NO_ZEROES),
                new OptionRequest(NbdOption.STRUCTURED_REPLY.code(), Unpooled.EMPTY_BUFFER),
                new OptionRequest(NbdOption.GO.code(), buf("00000000" + "0000")));
        pump(client, server);
        List<Object> received = drainInbound(server);
        try {
            assertThat(received).extracting(m -> m.getClass().getSimpleName())
                    .containsExactly("ClientFlags", "OptionRequest", "OptionRequest");
            for (Object m : received.subList(1, 3)) {
                server.writeOutbound(OptionReply.ack(((OptionRequest) m).option()));
            }
        } finally {
            release(received);
        }
        pump(server, client);
        List<Object> replies = drainInbound(client);
        try {
            assertThat(replies).extracting(m -> ((OptionReply) m).option())
                    .containsExactly(NbdOption.STRUCTURED_REPLY.code(), NbdOption.GO.code());
            assertThat(replies).allMatch(m -> ((OptionReply) m).replyType() == NbdReplyType.ACK);
        } finally {
            release(replies);
        }
    }
}
