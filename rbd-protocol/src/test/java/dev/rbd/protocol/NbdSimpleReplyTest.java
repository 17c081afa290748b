package dev.rbd.protocol;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(NettyLeakCheck.class)
class NbdSimpleReplyTest {
    @Test
    void okHasNoErrorAndNoData() {
        NbdSimpleReply r = NbdSimpleReply.ok(0x8000000000000000L);
        assertThat(r.cookie()).isEqualTo(0x8000000000000000L);
        assertThat(r.error()).isZero();
        assertThat(r.content().isReadable()).isFalse();
    }

    @Test
    void errorCarriesTheWireValueAndNoData() {
        NbdSimpleReply r = NbdSimpleReply.error(3, NbdError.ENOSPC);
        assertThat(r.error()).isEqualTo(28);
        assertThat(r.content().isReadable()).isFalse();
    }

    @Test
    void dataIsOwnedByTheReplyAndReplaceKeepsTheHeader() {
        ByteBuf data = ByteBufAllocator.DEFAULT.heapBuffer(2).writeShort(7);
        NbdSimpleReply r = new NbdSimpleReply(-1L, 0, data);
        assertThat(r.retain()).isSameAs(r);
        assertThat(data.refCnt()).isEqualTo(2);
        r.release();
        NbdSimpleReply replaced = r.replace(ByteBufAllocator.DEFAULT.heapBuffer(1).writeByte(1));
        try {
            assertThat(replaced.cookie()).isEqualTo(-1L);
            assertThat(replaced.error()).isZero();
            assertThat(replaced.toString()).contains("cookie=18446744073709551615", "data=1");
        } finally {
            replaced.release();
            r.release();
        }
        assertThat(data.refCnt()).isZero();
    }
}
