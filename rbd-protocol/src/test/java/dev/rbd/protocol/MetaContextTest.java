package dev.rbd.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import java.util.List;
import org.junit.jupiter.api.Test;

/** SET_META_CONTEXT data, the META_CONTEXT reply and the BLOCK_STATUS chunk, byte by byte. */
class MetaContextTest {
    @Test
    void setMetaContextDataListsTheExportAndEachQuery() {
        ByteBuf b = MetaContext.request("disk", List.of(MetaContext.BASE_ALLOCATION));
        try {
            assertThat(ByteBufUtil.hexDump(b)).isEqualTo(
                    "00000004" + ByteBufUtil.hexDump("disk".getBytes()) // export name
                    + "00000001" // one query
                    + "0000000f" + ByteBufUtil.hexDump("base:allocation".getBytes()));
        } finally {
            b.release();
        }
    }

    @Test
    void metaContextReplyCarriesTheIdAndName() {
        ByteBuf b = Unpooled.buffer().writeInt(7).writeBytes("base:allocation".getBytes());
        ByteBuf tooShort = Unpooled.buffer(3).writeZero(3);
        try {
            assertThat(MetaContext.Reply.decode(b)).isEqualTo(new MetaContext.Reply(7, "base:allocation"));
            assertThat(MetaContext.Reply.decode(tooShort)).isNull();
        } finally {
            b.release();
            tooShort.release();
        }
    }

    @Test
    void blockStatusRoundTripsWithUnsignedLengths() {
        MetaContext.BlockStatus s = new MetaContext.BlockStatus(7, List.of(
                new MetaContext.Extent(0xFFFF_F000L, MetaContext.STATE_HOLE | MetaContext.STATE_ZERO),
                new MetaContext.Extent(4096, 0)));
        ByteBuf b = s.encode();
        try {
            assertThat(b.readableBytes()).isEqualTo(4 + 2 * 8);
            MetaContext.BlockStatus back = MetaContext.BlockStatus.decode(b);
            assertThat(back).isEqualTo(s);
            assertThat(back.extents().get(0).zero()).isTrue();
            assertThat(back.extents().get(1).zero()).isFalse();
        } finally {
            b.release();
        }
    }

    @Test
    void blockStatusWithoutExtentsOrWithAPartialOrEmptyOneIsMalformed() {
        for (ByteBuf b : List.of(Unpooled.buffer().writeInt(1), Unpooled.buffer().writeInt(1).writeInt(4096),
                Unpooled.buffer().writeInt(1).writeInt(0).writeInt(0))) {
            try {
                assertThat(MetaContext.BlockStatus.decode(b)).isNull();
            } finally {
                b.release();
            }
        }
    }

    @Test
    void queryDecodesWhatRequestEncodes() {
        ByteBuf b = MetaContext.request("disk", List.of("base:allocation", "qemu:", ""));
        try {
            MetaContext.Query q = MetaContext.Query.decode(b, 3);
            assertThat(q.export()).isEqualTo("disk");
            assertThat(q.queries()).containsExactly("base:allocation", "qemu:", "");
        } finally {
            b.release();
        }
        ByteBuf reply = new MetaContext.Reply(1, "base:allocation").encode();
        try {
            assertThat(MetaContext.Reply.decode(reply)).isEqualTo(new MetaContext.Reply(1, "base:allocation"));
        } finally {
            reply.release();
        }
    }

    @Test
    void queryLengthsAreCheckedBeforeAnythingIsRead() {
        ByteBuf tooMany = MetaContext.request("", List.of("a", "b"));
        ByteBuf longName = Unpooled.buffer().writeInt(4097).writeZero(4097).writeInt(0);
        ByteBuf pastEnd = Unpooled.buffer().writeInt(0).writeInt(1).writeInt(0x7fff_ffff);
        ByteBuf shortQuery = Unpooled.buffer().writeInt(0).writeInt(1).writeInt(100).writeZero(99);
        ByteBuf trailing = Unpooled.buffer().writeInt(0).writeInt(0).writeByte(1);
        try {
            assertThatThrownBy(() -> MetaContext.Query.decode(tooMany, 1))
                    .isInstanceOf(MetaContext.TooBigException.class).hasMessage("queries: 2 (expected: <= 1)");
            assertThatThrownBy(() -> MetaContext.Query.decode(longName, 1))
                    .isInstanceOf(MetaContext.TooBigException.class);
            assertThatThrownBy(() -> MetaContext.Query.decode(pastEnd, 1))
                    .isInstanceOf(MetaContext.TooBigException.class);
            assertThatThrownBy(() -> MetaContext.Query.decode(shortQuery, 1))
                    .isExactlyInstanceOf(NbdProtocolException.class).hasMessageContaining("exceeds the 99 bytes left");
            assertThatThrownBy(() -> MetaContext.Query.decode(trailing, 1))
                    .isExactlyInstanceOf(NbdProtocolException.class).hasMessageContaining("after the last query");
            assertThatThrownBy(() -> MetaContext.Query.decode(Unpooled.EMPTY_BUFFER, 1))
                    .isExactlyInstanceOf(NbdProtocolException.class);
        } finally {
            for (ByteBuf b : List.of(tooMany, longName, pastEnd, shortQuery, trailing)) {
                b.release();
            }
        }
    }
}
