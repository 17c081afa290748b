package dev.rbd.server.store;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.util.Arrays;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What {@code rbd-server overlays list} reads of an overlay: blocks written, space used, in use or not. */
class PersistentOverlayInfoTest {
    private static final int SIZE = 16 << 20;

    @TempDir
    Path dir;

    @Test
    void countsWrittenBlocksAndTheSpaceTheyTakeNotTheImageSize() throws Exception {
        Path goldenPath = dir.resolve("golden.img");
        try (RandomAccessFile f = new RandomAccessFile(goldenPath.toFile(), "rw")) {
            byte[] ones = new byte[1 << 20];
            Arrays.fill(ones, (byte) 1);
            for (int i = 0; i < SIZE / ones.length; i++) {
                f.write(ones);
            }
        }
        Path overlays = Files.createDirectory(dir.resolve("overlays"));
        try (FileBlockStore golden = FileBlockStore.open(goldenPath, true)) {
            try (OverlayBlockStore o = PersistentOverlay.open(overlays, "host1", golden, goldenPath,
                    GoldenFingerprint.of(goldenPath))) {
                byte[] block = new byte[OverlayMap.BLOCK];
                Arrays.fill(block, (byte) 7);
                o.write(3 * OverlayMap.BLOCK, Unpooled.wrappedBuffer(block));
                o.write(100 * OverlayMap.BLOCK + 10, Unpooled.wrappedBuffer(new byte[20]));   // read-modify-write
                readAll(o);   // reads of golden blocks copy nothing
                o.sync();
                assertThat(PersistentOverlay.info(overlays, "host1").inUse()).as("in use while open").isTrue();
            }
        }
        PersistentOverlay.Info info = PersistentOverlay.info(overlays, "host1");
        assertThat(info.inUse()).isFalse();
        assertThat(info.blocksWritten()).isEqualTo(2);
        // two data blocks, the map's header and one page of its map, and the journal (an eighth of the image's
        // blocks, written whole once): far less than the 16 MiB image
        long journal = Files.size(OverlayJournal.file(overlays, "host1"));
        assertThat(journal).isEqualTo(OverlayJournal.fileSize(OverlayJournal.slotsFor(SIZE / OverlayMap.BLOCK)));
        assertThat(info.bytesUsed()).isBetween(2L * OverlayMap.BLOCK + journal, (64L << 10) + journal);
        assertThat(PersistentOverlay.clients(overlays)).containsExactly("host1");
    }

    private static void readAll(BlockStore s) throws Exception {
        ByteBuf b = Unpooled.directBuffer(1 << 20);
        try {
            for (long at = 0; at < s.size(); at += 1 << 20) {
                b.clear();
                s.read(at, b, 1 << 20);
            }
        } finally {
            b.release();
        }
    }
}
