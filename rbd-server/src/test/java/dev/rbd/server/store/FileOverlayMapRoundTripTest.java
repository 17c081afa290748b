package dev.rbd.server.store;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rbd.server.store.OverlayMap.State;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The file's 2 bits per block hold exactly the states set, over several pages and a block count that ends mid-word. */
class FileOverlayMapRoundTripTest {
    @TempDir
    Path dir;

    @Test
    void randomStatesSurviveASyncAndALoad() throws Exception {
        long blocks = 3L * FileOverlayMap.PAGE_BLOCKS + 37;   // 4 pages, the last one mostly padding
        Path file = dir.resolve("map");
        State[] expected = new State[(int) blocks];
        java.util.Arrays.fill(expected, State.GOLDEN);
        Random r = new Random(42);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.READ,
                StandardOpenOption.WRITE)) {
            ch.write(java.nio.ByteBuffer.allocate(1), FileOverlayMap.bytes(blocks) - 1);
        }
        FileOverlayMap m = FileOverlayMap.load(FileChannel.open(file, StandardOpenOption.READ,
                StandardOpenOption.WRITE), 0, blocks, "test");
        for (int i = 0; i < 2000; i++) {
            long first = r.nextLong(blocks);
            long count = 1 + r.nextLong(Math.min(200, blocks - first));
            State s = State.values()[r.nextInt(3)];
            m.set(first, count, s);
            for (long b = first; b < first + count; b++) {
                expected[(int) b] = s;
            }
        }
        m.set(blocks - 1, 1, State.ZERO);
        expected[(int) blocks - 1] = State.ZERO;
        int[] dataSyncs = {0};
        m.sync(() -> dataSyncs[0]++);
        m.close();
        assertThat(dataSyncs[0]).isEqualTo(1);
        try (FileOverlayMap loaded = FileOverlayMap.load(FileChannel.open(file, StandardOpenOption.READ), 0, blocks,
                "test")) {
            for (long b = 0; b < blocks; b++) {
                assertThat(loaded.get(b)).as("block %d", b).isEqualTo(expected[(int) b]);
            }
        }
    }
}
