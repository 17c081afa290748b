package dev.rbd.server.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.rbd.server.store.OverlayMap.State;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The block map file of a persistent overlay: what a sync writes and when, what a set during a sync becomes, what
 * load refuses, and that states survive a write and a load.
 */
class FileOverlayMapTest {
    /** Where the map starts in its file, as in a real map file (after the two header slots). */
    private static final long OFFSET = PersistentOverlay.MAP_OFFSET;
    /** Three whole pages and an odd part of a fourth. */
    private static final long BLOCKS = 3L * FileOverlayMap.PAGE_BLOCKS + 4097;

    @TempDir
    Path dir;

    private Path file;

    /** A map file of {@code blocks} blocks, all GOLDEN, opened for read and write. */
    private FileChannel newMapFile(long blocks) throws IOException {
        file = dir.resolve("c.map");
        FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.READ,
                StandardOpenOption.WRITE);
        ch.write(ByteBuffer.allocate(1), OFFSET + FileOverlayMap.bytes(blocks) - 1);
        return ch;
    }

    /** Block {@code b}'s 2-bit code as the file holds it now. */
    private int codeOnDisk(long b) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer one = ByteBuffer.allocate(1);
            ch.read(one, OFFSET + b / 4);
            return (one.get(0) >>> ((b & 3) * 2)) & 3;
        }
    }

    private void putByte(long at, int value) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(new byte[] {(byte) value}), at);
        }
    }

    private FileOverlayMap reload(long blocks) throws IOException {
        return FileOverlayMap.load(FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE), OFFSET,
                blocks, "test map");
    }

    @Test
    void theDataIsSyncedBeforeAnyPageOfTheMapIsWritten() throws IOException {
        long p0 = 5;
        long p2 = 2L * FileOverlayMap.PAGE_BLOCKS + 7;
        long last = BLOCKS - 1;
        AtomicInteger dataSyncs = new AtomicInteger();
        try (FileOverlayMap m = FileOverlayMap.load(newMapFile(BLOCKS), OFFSET, BLOCKS, "test map")) {
            m.set(p0, 3, State.DATA);
            m.set(p2, 1, State.ZERO);
            m.set(last, 1, State.DATA);
            m.sync(() -> {
                dataSyncs.incrementAndGet();
                // the data sync runs first: no page of the file says DATA or ZERO yet
                for (long b : new long[] {p0, p0 + 1, p0 + 2, p2, last}) {
                    assertThat(codeOnDisk(b)).as("block %d on disk during the data sync", b).isZero();
                }
            });
            assertThat(dataSyncs).hasValue(1);
            assertThat(codeOnDisk(p0)).isEqualTo(1);
            assertThat(codeOnDisk(p0 + 2)).isEqualTo(1);
            assertThat(codeOnDisk(p0 + 3)).isZero();
            assertThat(codeOnDisk(p2)).isEqualTo(2);
            assertThat(codeOnDisk(last)).isEqualTo(1);

            // the same again with old states on disk: during the data sync they are still the old ones
            m.set(p0, 1, State.ZERO);
            m.sync(() -> assertThat(codeOnDisk(p0)).as("still the old state during the data sync").isEqualTo(1));
            assertThat(codeOnDisk(p0)).isEqualTo(2);
        }
    }

    @Test
    void aFailedDataSyncWritesNoPageAndTheNextSyncWritesThem() throws IOException {
        try (FileOverlayMap m = FileOverlayMap.load(newMapFile(BLOCKS), OFFSET, BLOCKS, "test map")) {
            m.set(10, 1, State.DATA);
            assertThatThrownBy(() -> m.sync(() -> {
                throw new IOException("Input/output error");
            })).hasMessageContaining("Input/output error");
            assertThat(codeOnDisk(10)).as("a failed data sync leaves the map as it was").isZero();
            m.sync(() -> { });
            assertThat(codeOnDisk(10)).as("the page is still dirty, so the next sync writes it").isEqualTo(1);
        }
    }

    @Test
    void aSetDuringASyncIsPersistedByTheNextOne() throws IOException {
        long during = FileOverlayMap.PAGE_BLOCKS + 3;     // a page the first sync did not take
        long samePage = 11;                                // and one it did
        try (FileOverlayMap m = FileOverlayMap.load(newMapFile(BLOCKS), OFFSET, BLOCKS, "test map")) {
            m.set(10, 1, State.DATA);
            m.sync(() -> {
                m.set(during, 1, State.DATA);
                m.set(samePage, 1, State.ZERO);
            });
            assertThat(codeOnDisk(10)).isEqualTo(1);
            m.sync(() -> { });
            assertThat(codeOnDisk(during)).as("set during the first sync, written by the second").isEqualTo(1);
            assertThat(codeOnDisk(samePage)).isEqualTo(2);
        }
        try (FileOverlayMap again = reload(BLOCKS)) {
            assertThat(again.get(10)).isEqualTo(State.DATA);
            assertThat(again.get(during)).isEqualTo(State.DATA);
            assertThat(again.get(samePage)).isEqualTo(State.ZERO);
        }
    }

    @Test
    void secondStepsInEitherOrderLeaveTheNewestCopyOfEachPage() throws IOException {
        long a = 3;
        long b = 9;                                        // same page as a
        long other = FileOverlayMap.PAGE_BLOCKS + 1;       // a page only the older sync took
        try (FileOverlayMap m = FileOverlayMap.load(newMapFile(BLOCKS), OFFSET, BLOCKS, "test map")) {
            m.set(a, 1, State.DATA);
            m.set(other, 1, State.ZERO);
            BlockStore.SyncStep older = m.syncStaged(() -> { });
            assertThat(codeOnDisk(a)).as("the first step writes no page").isZero();
            m.set(b, 1, State.DATA);
            BlockStore.SyncStep newer = m.syncStaged(() -> { });
            newer.run();
            assertThat(codeOnDisk(a)).isEqualTo(1);
            assertThat(codeOnDisk(b)).isEqualTo(1);
            // the older copy of the shared page, without b, must not go back over the newer one
            older.run();
            assertThat(codeOnDisk(b)).as("b after the older second step").isEqualTo(1);
            assertThat(codeOnDisk(other)).as("the page only the older sync took is written").isEqualTo(2);
            assertThat(m.syncStaged(() -> { })).as("nothing changed since: no second step").isNull();
        }
        try (FileOverlayMap again = reload(BLOCKS)) {
            assertThat(again.get(a)).isEqualTo(State.DATA);
            assertThat(again.get(b)).isEqualTo(State.DATA);
            assertThat(again.get(other)).isEqualTo(State.ZERO);
        }
    }

    @Test
    void loadRefusesTheStateThree() throws IOException {
        newMapFile(BLOCKS).close();
        long block = 2L * FileOverlayMap.PAGE_BLOCKS + 9;    // byte 2 * PAGE + 2, bits 2-3
        putByte(OFFSET + block / 4, 3 << ((block & 3) * 2));
        assertThatThrownBy(() -> reload(BLOCKS)).isInstanceOf(CorruptOverlayException.class)
                .hasMessageContaining("test map").hasMessageContaining("invalid state")
                .hasMessageContaining("block " + block);
    }

    @Test
    void loadRefusesAStateInThePaddingPastTheLastBlock() throws IOException {
        newMapFile(BLOCKS).close();
        long past = BLOCKS + 2;                              // inside the last page, after the image's end
        putByte(OFFSET + past / 4, 1 << ((past & 3) * 2));
        assertThatThrownBy(() -> reload(BLOCKS)).isInstanceOf(CorruptOverlayException.class)
                .hasMessageContaining("past the image's end");
    }

    @Test
    void loadRefusesAMapCutShort() throws IOException {
        try (FileChannel ch = newMapFile(BLOCKS)) {
            ch.truncate(OFFSET + FileOverlayMap.bytes(BLOCKS) - 100);
        }
        assertThatThrownBy(() -> reload(BLOCKS)).isInstanceOf(CorruptOverlayException.class)
                .hasMessageContaining("ends early");
    }

    @Test
    void randomStatesOverSeveralPagesSurviveASyncAndALoad() throws IOException {
        Random random = new Random(42);
        State[] expected = new State[(int) BLOCKS];
        java.util.Arrays.fill(expected, State.GOLDEN);
        try (FileOverlayMap m = FileOverlayMap.load(newMapFile(BLOCKS), OFFSET, BLOCKS, "test map")) {
            for (int round = 0; round < 3; round++) {
                for (int i = 0; i < 400; i++) {
                    long first = random.nextInt((int) BLOCKS);
                    long count = 1 + random.nextInt((int) Math.min(300, BLOCKS - first));
                    State s = State.values()[random.nextInt(3)];
                    m.set(first, count, s);
                    java.util.Arrays.fill(expected, (int) first, (int) (first + count), s);
                }
                m.set(BLOCKS - 1, 1, State.ZERO);             // the odd last block
                expected[(int) BLOCKS - 1] = State.ZERO;
                m.sync(() -> { });
            }
            for (long b = 0; b < BLOCKS; b++) {
                assertThat(m.get(b)).isEqualTo(expected[(int) b]);
            }
        }
        assertThat(Files.size(file)).isEqualTo(OFFSET + 4L * FileOverlayMap.PAGE);
        try (FileOverlayMap again = reload(BLOCKS)) {
            long[] counts = new long[3];
            for (long b = 0; b < BLOCKS; b++) {
                State s = again.get(b);
                counts[s.ordinal()]++;
                if (s != expected[(int) b]) {
                    throw new AssertionError("block " + b + ": " + s + " after a load (expected: "
                            + expected[(int) b] + ")");
                }
            }
            assertThat(counts).as("each state occurs").doesNotContain(0L);
            assertThat(again.counts()).isEqualTo(counts);
        }
    }
}
