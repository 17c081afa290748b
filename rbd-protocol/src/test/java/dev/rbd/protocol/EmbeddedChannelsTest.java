package dev.rbd.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** Proves the finish check every codec test relies on fails where it should and cleans up either way. */
@ExtendWith(NettyLeakCheck.class)
class EmbeddedChannelsTest {
    @Test
    void failsNamingTheMessageLeftInAChannelAndReleasesIt() {
        EmbeddedChannels channels = new EmbeddedChannels();
        EmbeddedChannel clean = channels.open();
        EmbeddedChannel dirty = channels.open(new ChannelInboundHandlerAdapter());
        ByteBuf left = ByteBufAllocator.DEFAULT.heapBuffer(2).writeShort(0xbeef);
        dirty.writeInbound(left);
        List<String> order = new ArrayList<>();
        channels.afterwards(() -> order.add(dirty.isOpen() ? "cleanup before finish" : "cleanup"));

        assertThatThrownBy(() -> channels.afterEach(null))
                .isInstanceOf(AssertionError.class)
                .hasMessageContaining("channel 2 [ChannelInboundHandlerAdapter#0]")
                .hasMessageContaining("inbound [ByteBuf[beef]]")
                .hasMessageNotContaining("channel 1");
        assertThat(left.refCnt()).isZero();
        assertThat(clean.isOpen()).isFalse();
        assertThat(order).containsExactly("cleanup");
    }

    @Test
    void passesChannelsLeftEmptyAndClosesThem() throws Exception {
        EmbeddedChannels channels = new EmbeddedChannels();
        EmbeddedChannel ch = channels.open();
        ch.writeOutbound(ByteBufAllocator.DEFAULT.heapBuffer(1).writeByte(1));
        ((ByteBuf) ch.readOutbound()).release();

        channels.afterEach(null);
        assertThat(ch.isOpen()).isFalse();
    }
}
