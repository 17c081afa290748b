package dev.rbd.server.handshake;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rbd.protocol.ClientFlags;
import dev.rbd.protocol.NbdConstants;
import dev.rbd.protocol.NbdInfo;
import dev.rbd.protocol.NbdOption;
import dev.rbd.protocol.NbdReplyType;
import dev.rbd.protocol.NbdString;
import dev.rbd.protocol.OptionReply;
import dev.rbd.protocol.OptionRequest;
import dev.rbd.protocol.ServerGreeting;
import dev.rbd.server.TestServers;
import dev.rbd.server.export.Connection;
import dev.rbd.server.export.Export;
import dev.rbd.server.store.MemoryBlockStore;
import dev.rbd.server.transmission.TransmissionHandler;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOutboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The handshake handler alone, on an {@code EmbeddedChannel}: option messages in, option replies out. The
 * handshake codecs are stood in for by pass-through handlers under their names, so the switch to transmission
 * can be seen in the pipeline.
 */
class HandshakeHandlerTest {
    private final Export disk = TestServers.export("disk", new MemoryBlockStore(1 << 20), false);
    private EmbeddedChannel ch;

    @BeforeEach
    void open() throws Exception {
        ch = new EmbeddedChannel(false, false);
        Connection conn = new Connection("embedded", "127.0.0.1").bind(ch);
        ch.pipeline().addLast(HandshakeHandler.DECODER, new ChannelInboundHandlerAdapter())
                .addLast(HandshakeHandler.ENCODER, new ChannelOutboundHandlerAdapter())
                .addLast("handshake", new HandshakeHandler(TestServers.context(disk), conn));
        ch.register();
        ServerGreeting greeting = ch.readOutbound();
        assertThat(greeting.handshakeFlags()).isEqualTo(NbdConstants.FLAG_FIXED_NEWSTYLE
                | NbdConstants.FLAG_NO_ZEROES);
        ch.writeInbound(new ClientFlags(NbdConstants.FLAG_C_FIXED_NEWSTYLE | NbdConstants.FLAG_C_NO_ZEROES));
    }

    @AfterEach
    void close() {
        ch.finishAndReleaseAll();
        disk.close();
    }

    /** Sends one option and returns the types of the replies it got, releasing them. */
    private List<Integer> option(int option, ByteBuf data) {
        ch.writeInbound(new OptionRequest(option, data));
        List<Integer> types = new ArrayList<>();
        for (Object m; (m = ch.readOutbound()) != null; ) {
            OptionReply r = (OptionReply) m;
            assertThat(r.option()).isEqualTo(option);
            types.add(r.type());
            r.release();
        }
        return types;
    }

    private static ByteBuf infoRequest(String name, NbdInfo... infos) {
        byte[] b = name.getBytes(StandardCharsets.UTF_8);
        ByteBuf data = Unpooled.buffer().writeInt(b.length).writeBytes(b).writeShort(infos.length);
        for (NbdInfo i : infos) {
            data.writeShort(i.code());
        }
        return data;
    }

    @Test
    void listNamesEveryExportThenAcks() {
        assertThat(option(NbdOption.LIST.code(), Unpooled.EMPTY_BUFFER))
                .containsExactly(NbdReplyType.SERVER.code(), NbdReplyType.ACK.code());
    }

    @Test
    void infoAndGoForAnUnknownExportGetErrUnknown() {
        assertThat(option(NbdOption.INFO.code(), infoRequest("nope"))).containsExactly(NbdReplyType.ERR_UNKNOWN.code());
        assertThat(option(NbdOption.GO.code(), infoRequest("nope"))).containsExactly(NbdReplyType.ERR_UNKNOWN.code());
        assertThat(ch.pipeline().get("handshake")).isNotNull();
    }

    @Test
    void anExportNameCannotForgeALineInTheRefusal() {
        ch.writeInbound(new OptionRequest(NbdOption.INFO.code(), infoRequest("nope\n12:00:00.000 INFO forged\u202e")));
        OptionReply r = ch.readOutbound();
        try {
            assertThat(r.type()).isEqualTo(NbdReplyType.ERR_UNKNOWN.code());
            assertThat(NbdString.decode(r.content()))
                    .isEqualTo("unknown export 'nope\\n12:00:00.000 INFO forged\\u202e'");
        } finally {
            r.release();
        }
    }

    @Test
    void infoAnswersWithoutLeavingTheHandshake() {
        assertThat(option(NbdOption.INFO.code(), infoRequest("disk", NbdInfo.NAME))).containsExactly(
                NbdReplyType.INFO.code(), NbdReplyType.INFO.code(), NbdReplyType.INFO.code(),
                NbdReplyType.ACK.code());
        assertThat(ch.pipeline().get("handshake")).isNotNull();
    }

    @Test
    void unknownOptionGetsErrUnsupAndNegotiationContinues() {
        assertThat(option(0x7777, Unpooled.EMPTY_BUFFER)).containsExactly(NbdReplyType.ERR_UNSUP.code());
        assertThat(option(NbdOption.LIST.code(), Unpooled.EMPTY_BUFFER)).endsWith(NbdReplyType.ACK.code());
    }

    @Test
    void structuredReplyTwiceIsInvalid() {
        assertThat(option(NbdOption.STRUCTURED_REPLY.code(), Unpooled.EMPTY_BUFFER))
                .containsExactly(NbdReplyType.ACK.code());
        assertThat(option(NbdOption.STRUCTURED_REPLY.code(), Unpooled.EMPTY_BUFFER))
                .containsExactly(NbdReplyType.ERR_INVALID.code());
    }

    @Test
    void goEntersTransmissionAndRemovesTheHandshakeHandlers() {
        assertThat(option(NbdOption.GO.code(), infoRequest("disk"))).containsExactly(NbdReplyType.INFO.code(),
                NbdReplyType.INFO.code(), NbdReplyType.ACK.code());
        assertThat(ch.pipeline().get("handshake")).isNull();
        assertThat(ch.pipeline().get(HandshakeHandler.DECODER)).isNull();
        assertThat(ch.pipeline().get(HandshakeHandler.ENCODER)).isNull();
        assertThat(ch.pipeline().get(TransmissionHandler.class)).isNotNull();
        assertThat(disk.writerLock().owner()).isEqualTo("127.0.0.1");
    }

    @Test
    void anOptionBeforeTheClientFlagsClosesTheConnection() throws Exception {
        EmbeddedChannel early = new EmbeddedChannel(false, false);
        Connection conn = new Connection("embedded", "127.0.0.2").bind(early);
        early.pipeline().addLast(new HandshakeHandler(TestServers.context(disk), conn));
        early.register();
        ((ServerGreeting) early.readOutbound()).handshakeFlags();
        early.writeInbound(new OptionRequest(NbdOption.LIST.code(), Unpooled.EMPTY_BUFFER));
        assertThat(early.isOpen()).isFalse();
        early.finishAndReleaseAll();
    }
}
