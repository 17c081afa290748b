package dev.rbd.protocol;

import static org.assertj.core.api.Assertions.assertThat;

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
}
