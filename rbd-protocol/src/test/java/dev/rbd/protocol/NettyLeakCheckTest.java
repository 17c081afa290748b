package dev.rbd.protocol;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Proves the leak check used by every codec test is not a silent no-op. */
class NettyLeakCheckTest {
    @Test
    void reportsABufferThatWasNeverReleased() {
        NettyLeakCheck.install();
        NettyLeakCheck.collectLeaks(1); // forget anything older
        leakOneBuffer();
        // Netty logs this leak as an ERROR as well: that log line is expected.
        List<String> leaks = new ArrayList<>();
        for (int i = 0; i < 50 && leaks.stream().noneMatch(l -> l.contains("leakOneBuffer")); i++) {
            leaks.addAll(NettyLeakCheck.collectLeaks(1));
        }
        assertThat(leaks).anySatisfy(l -> assertThat(l).startsWith("ByteBuf").contains("leakOneBuffer"));
    }

    private static void leakOneBuffer() {
        ByteBuf leaked = ByteBufAllocator.DEFAULT.heapBuffer(8).writeLong(42);
        assertThat(leaked.refCnt()).isEqualTo(1); // dropped without release()
    }
}
