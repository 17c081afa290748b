package dev.rbd.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(NettyLeakCheck.class)
class NbdRequestTest {
    @Test
    void ofBuildsAPayloadlessRequestWithEveryField() {
        NbdRequest r = NbdRequest.of(NbdConstants.CMD_FLAG_FUA, NbdCommand.TRIM, 0x8000000000000001L, -1L,
                0xffffffffL);
        assertThat(r.flags()).isEqualTo(NbdConstants.CMD_FLAG_FUA);
        assertThat(r.type()).isEqualTo(NbdCommand.TRIM.code());
        assertThat(r.command()).isEqualTo(NbdCommand.TRIM);
        assertThat(r.cookie()).isEqualTo(0x8000000000000001L);
        assertThat(r.offset()).isEqualTo(0xffffffffffffffffL);
        assertThat(r.length()).isEqualTo(0xffffffffL);
        assertThat(r.content().isReadable()).isFalse();
        assertThat(r.payloadDropped()).isFalse();
    }

    @Test
    void acceptsLengthsFromZeroToTwoToTheThirtyTwoMinusOne() {
        assertThat(NbdRequest.of(0, NbdCommand.READ, 0, 0, 0).length()).isZero();
        assertThat(NbdRequest.of(0, NbdCommand.READ, 0, 0, 0xffffffffL).length()).isEqualTo(4294967295L);
    }

    @Test
    void rejectsNegativeLength() {
        assertThatThrownBy(() -> NbdRequest.of(0, NbdCommand.READ, 0, 0, -1))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void rejectsLengthBeyond32Bits() {
        assertThatThrownBy(() -> NbdRequest.of(0, NbdCommand.READ, 0, 0, 1L << 32))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> NbdRequest.withDroppedPayload(0, 1, 0, 0, 1L << 32))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void rejectsBadLengthWithoutTakingTheFlagsOrTypeWrong() {
        ByteBuf payload = ByteBufAllocator.DEFAULT.heapBuffer(1).writeByte(1);
        try {
            assertThatThrownBy(() -> new NbdRequest(0, 1, 0, 0, -5, payload))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("-5");
        } finally {
            payload.release();
        }
    }

    @Test
    void masksFlagsAndTypeTo16Bits() {
        NbdRequest r = new NbdRequest(0x1ffff, 0x10001, 0, 0, 0, Unpooled.EMPTY_BUFFER);
        assertThat(r.flags()).isEqualTo(0xffff);
        assertThat(r.type()).isEqualTo(1);
        assertThat(r.command()).isEqualTo(NbdCommand.WRITE);
        NbdRequest negative = new NbdRequest(-1, -1, 0, 0, 0, Unpooled.EMPTY_BUFFER);
        assertThat(negative.flags()).isEqualTo(0xffff);
        assertThat(negative.type()).isEqualTo(0xffff);
    }

    @Test
    void commandIsNullForUnknownType() {
        NbdRequest r = new NbdRequest(0, 8, 0, 0, 0, Unpooled.EMPTY_BUFFER);
        assertThat(r.type()).isEqualTo(8);
        assertThat(r.command()).isNull();
    }

    @Test
    void hasFlagTestsSingleBits() {
        NbdRequest r = NbdRequest.of(NbdConstants.CMD_FLAG_FUA | NbdConstants.CMD_FLAG_NO_HOLE,
                NbdCommand.WRITE_ZEROES, 0, 0, 0);
        assertThat(r.hasFlag(NbdConstants.CMD_FLAG_FUA)).isTrue();
        assertThat(r.hasFlag(NbdConstants.CMD_FLAG_NO_HOLE)).isTrue();
        assertThat(r.hasFlag(NbdConstants.CMD_FLAG_FAST_ZERO)).isFalse();
        assertThat(r.hasFlag(NbdConstants.CMD_FLAG_DF)).isFalse();
    }

    @Test
    void withDroppedPayloadIsMarkedAndEmpty() {
        NbdRequest r = NbdRequest.withDroppedPayload(0x10001, NbdCommand.WRITE.code(), -1L, 1L << 40, 1 << 25);
        assertThat(r.payloadDropped()).isTrue();
        assertThat(r.content().isReadable()).isFalse();
        assertThat(r.flags()).isEqualTo(1);
        assertThat(r.command()).isEqualTo(NbdCommand.WRITE);
        assertThat(r.cookie()).isEqualTo(-1L);
        assertThat(r.offset()).isEqualTo(1L << 40);
        assertThat(r.length()).isEqualTo(1 << 25);
    }

    @Test
    void writePayloadIsOwnedByTheRequest() {
        ByteBuf payload = ByteBufAllocator.DEFAULT.heapBuffer(4).writeInt(0xcafebabe);
        NbdRequest r = new NbdRequest(0, NbdCommand.WRITE.code(), 1, 0, 4, payload);
        assertThat(r.content()).isSameAs(payload);
        assertThat(r.retain()).isSameAs(r);
        assertThat(payload.refCnt()).isEqualTo(2);
        assertThat(r.release()).isFalse();
        assertThat(r.release()).isTrue();
        assertThat(payload.refCnt()).isZero();
    }

    @Test
    void replaceKeepsEveryFieldIncludingTheDroppedMarker() {
        NbdRequest dropped = NbdRequest.withDroppedPayload(3, 1, 4, 5, 6);
        ByteBuf other = ByteBufAllocator.DEFAULT.heapBuffer(1).writeByte(9);
        NbdRequest replaced = dropped.replace(other);
        try {
            assertThat(replaced.flags()).isEqualTo(3);
            assertThat(replaced.type()).isEqualTo(1);
            assertThat(replaced.cookie()).isEqualTo(4);
            assertThat(replaced.offset()).isEqualTo(5);
            assertThat(replaced.length()).isEqualTo(6);
            assertThat(replaced.payloadDropped()).isTrue();
            assertThat(replaced.content()).isSameAs(other);
        } finally {
            replaced.release();
        }
    }

    @Test
    void copyAndDuplicateKeepTheHeaderFields() {
        NbdRequest r = new NbdRequest(1, NbdCommand.WRITE.code(), -7L, 512, 2,
                ByteBufAllocator.DEFAULT.heapBuffer(2).writeShort(0x0102));
        NbdRequest copy = (NbdRequest) r.copy();
        try {
            assertThat(copy.cookie()).isEqualTo(-7L);
            assertThat(copy.offset()).isEqualTo(512);
            assertThat(ByteBufUtil.hexDump(copy.content())).isEqualTo("0102");
            assertThat(copy.content()).isNotSameAs(r.content());
        } finally {
            copy.release();
            r.release();
        }
    }

    @Test
    void touchReturnsTheSameRequest() {
        NbdRequest r = NbdRequest.of(0, NbdCommand.FLUSH, 0, 0, 0);
        assertThat(r.touch("hint")).isSameAs(r);
    }

    @Test
    void toStringShowsUnsignedValues() {
        String s = NbdRequest.of(1, NbdCommand.READ, -1L, 0x8000000000000000L, 0xffffffffL).toString();
        assertThat(s).contains("READ", "flags=0x1", "cookie=18446744073709551615",
                "offset=9223372036854775808", "length=4294967295").doesNotContain("dropped");
        assertThat(new NbdRequest(0, 0x1234, 0, 0, 0, Unpooled.EMPTY_BUFFER).toString()).contains("type 4660");
        assertThat(NbdRequest.withDroppedPayload(0, 1, 0, 0, 9).toString()).contains("WRITE", "payload dropped");
    }
}
