package dev.rbd.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** The small handshake messages: greeting, client flags, option requests and replies. */
@ExtendWith(NettyLeakCheck.class)
class HandshakeMessagesTest {
    @Test
    void greetingAcceptsAnyU16Flags() {
        assertThat(new ServerGreeting(0).handshakeFlags()).isZero();
        assertThat(new ServerGreeting(0xffff).handshakeFlags()).isEqualTo(0xffff);
    }

    @Test
    void greetingRejectsFlagsBeyond16Bits() {
        assertThatThrownBy(() -> new ServerGreeting(0x10000)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new ServerGreeting(-1)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void clientFlagsReportKnownAndUnknownBits() {
        ClientFlags none = new ClientFlags(0);
        assertThat(none.fixedNewstyle()).isFalse();
        assertThat(none.noZeroes()).isFalse();
        assertThat(none.unknownFlags()).isZero();

        ClientFlags both = new ClientFlags(3);
        assertThat(both.fixedNewstyle()).isTrue();
        assertThat(both.noZeroes()).isTrue();
        assertThat(both.unknownFlags()).isZero();

        ClientFlags odd = new ClientFlags(0x80000004 | 2);
        assertThat(odd.fixedNewstyle()).isFalse();
        assertThat(odd.noZeroes()).isTrue();
        assertThat(odd.unknownFlags()).isEqualTo(0x80000004);
    }

    @Test
    void ackOptionReplyHasNoData() {
        OptionReply r = OptionReply.ack(NbdOption.GO.code());
        assertThat(r.option()).isEqualTo(7);
        assertThat(r.type()).isEqualTo(1);
        assertThat(r.replyType()).isEqualTo(NbdReplyType.ACK);
        assertThat(r.content().isReadable()).isFalse();
    }

    @Test
    void errorOptionReplyCarriesTheMessageAsUtf8() {
        OptionReply r = OptionReply.error(NbdOption.INFO.code(), NbdReplyType.ERR_UNKNOWN, "n\u00f6");
        try {
            assertThat(r.replyType()).isEqualTo(NbdReplyType.ERR_UNKNOWN);
            assertThat(r.content().toString(StandardCharsets.UTF_8)).isEqualTo("n\u00f6");
            assertThat(r.content().readableBytes()).isEqualTo(3);
            assertThat(r.toString()).contains("INFO", "ERR_UNKNOWN", "length=3");
        } finally {
            r.release();
        }
    }

    @Test
    void errorOptionReplyRejectsANonErrorType() {
        assertThatThrownBy(() -> OptionReply.error(1, NbdReplyType.ACK, "x"))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void optionReplyWithUnknownTypeKeepsTheWireValue() {
        OptionReply r = new OptionReply(-1, 0x8000ffff, Unpooled.EMPTY_BUFFER);
        assertThat(r.replyType()).isNull();
        assertThat(r.type()).isEqualTo(0x8000ffff);
        assertThat(r.toString()).contains("option 4294967295", "type 0x8000ffff");
    }

    @Test
    void optionReplyAndRequestReplaceKeepTheHeader() {
        OptionReply reply = new OptionReply(3, 2, Unpooled.EMPTY_BUFFER).replace(ByteBufAllocator.DEFAULT.heapBuffer(1).writeByte(1));
        OptionRequest request = new OptionRequest(7, Unpooled.EMPTY_BUFFER).replace(ByteBufAllocator.DEFAULT.heapBuffer(1).writeByte(2));
        try {
            assertThat(reply.option()).isEqualTo(3);
            assertThat(reply.type()).isEqualTo(2);
            assertThat(request.option()).isEqualTo(7);
            assertThat(request.toString()).contains("GO", "length=1");
        } finally {
            reply.release();
            request.release();
        }
    }

    @Test
    void optionRequestOwnsItsData() {
        ByteBuf data = ByteBufAllocator.DEFAULT.heapBuffer(1).writeByte(1);
        OptionRequest r = new OptionRequest(1, data);
        assertThat(r.retain()).isSameAs(r);
        assertThat(data.refCnt()).isEqualTo(2);
        r.release(2);
        assertThat(data.refCnt()).isZero();
    }

    @Test
    void exportNameReplyIsAValue() {
        assertThat(new ExportNameReply(-1L, 0xffff, true)).isEqualTo(new ExportNameReply(-1L, 0xffff, true))
                .isNotEqualTo(new ExportNameReply(-1L, 0xffff, false));
    }
}
