package dev.rbd.protocol;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/** rbd's session option and its reply: round trips, and malformed data read as {@code null}. */
class RbdSessionTest {
    @Test
    void requestRoundTripsWithUnsignedExtremes() {
        RbdSession.Request r = new RbdSession.Request(new UUID(-1L, Long.MIN_VALUE), 3, -1L, "disk é");
        ByteBuf b = r.encode();
        try {
            assertThat(b.readableBytes()).isEqualTo(32 + "disk é".getBytes(java.nio.charset.StandardCharsets.UTF_8).length);
            assertThat(RbdSession.Request.decode(b)).isEqualTo(r);
        } finally {
            b.release();
        }
    }

    @Test
    void requestWithWrongNameLengthOrNegativeSlotIsMalformed() {
        ByteBuf shortName = new RbdSession.Request(UUID.randomUUID(), 0, 1, "abc").encode();
        ByteBuf truncated = shortName.slice(0, shortName.readableBytes() - 1);
        assertThat(RbdSession.Request.decode(truncated)).isNull();
        shortName.release();
        ByteBuf neg = new RbdSession.Request(UUID.randomUUID(), -1, 1, "").encode();
        assertThat(RbdSession.Request.decode(neg)).isNull();
        neg.release();
        assertThat(RbdSession.Request.decode(Unpooled.buffer(31).writeZero(31))).isNull();
    }

    @Test
    void requestWithoutFlagsIsTheOlderLayoutAndMeansNoFlags() {
        RbdSession.Request r = new RbdSession.Request(UUID.randomUUID(), 0, 1, "disk");
        ByteBuf b = r.encode();
        try {
            assertThat(b.readableBytes()).isEqualTo(32 + 4); // nothing after the name
            RbdSession.Request back = RbdSession.Request.decode(b);
            assertThat(back.flags()).isZero();
            assertThat(back.readOnlyIntent()).isFalse();
        } finally {
            b.release();
        }
    }

    @Test
    void requestWithReadOnlyIntentCarriesTheTrailingFlags() {
        RbdSession.Request r = new RbdSession.Request(UUID.randomUUID(), 2, 9, "disk", RbdSession.READ_ONLY_INTENT);
        ByteBuf b = r.encode();
        try {
            assertThat(b.readableBytes()).isEqualTo(32 + 4 + 4);
            assertThat(b.getInt(b.writerIndex() - 4)).isEqualTo(1); // u32 flags, bit 0, after the name
            RbdSession.Request back = RbdSession.Request.decode(b);
            assertThat(back).isEqualTo(r);
            assertThat(back.readOnlyIntent()).isTrue();
        } finally {
            b.release();
        }
    }

    @Test
    void requestWithUnknownFlagsOrAPartialFlagsFieldIsMalformed() {
        ByteBuf unknown = new RbdSession.Request(UUID.randomUUID(), 0, 1, "d", 0x2).encode();
        assertThat(RbdSession.Request.decode(unknown)).isNull();
        unknown.release();
        ByteBuf partial = new RbdSession.Request(UUID.randomUUID(), 0, 1, "d").encode().writeShort(0);
        assertThat(RbdSession.Request.decode(partial)).isNull();
        partial.release();
    }

    @Test
    void replyRoundTrips() {
        RbdSession.Reply r = new RbdSession.Reply(RbdSession.ACKS_DURABLE, 0xfedcba9876543210L, 7, 2);
        ByteBuf b = r.encode();
        assertThat(RbdSession.Reply.decode(b)).isEqualTo(r);
        assertThat(r.acksDurable()).isTrue();
        assertThat(new RbdSession.Reply(0, 1, 0, 0).acksDurable()).isFalse();
        assertThat(RbdSession.Reply.decode(Unpooled.buffer(19).writeZero(19))).isNull();
    }

    @Test
    void optionAndReplyTypeAreOutsideTheSpecsNumbersAndNotErrors() {
        assertThat(NbdOption.fromCode(RbdSession.OPTION)).isSameAs(NbdOption.RBD_SESSION);
        assertThat(NbdReplyType.fromCode(RbdSession.REPLY)).isSameAs(NbdReplyType.RBD_SESSION);
        assertThat(NbdReplyType.RBD_SESSION.isError()).isFalse();
        assertThat(RbdSession.OPTION).isGreaterThan(NbdOption.EXTENDED_HEADERS.code() + 1000);
    }
}
