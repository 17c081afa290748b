package dev.rbd.server.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.rbd.server.store.OverlayMap.State;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.security.MessageDigest;
import java.time.Instant;
import java.util.Arrays;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A client's persistent overlay on disk: made, closed and opened again with its data and map; half-made ones are
 * made again; a damaged header slot falls back to the other; damaged, cut or foreign files and a changed golden
 * image are refused with a message that names the client.
 */
class PersistentOverlayTest {
    private static final FileTime OLD = FileTime.from(Instant.parse("2020-01-02T03:04:05Z"));
    /** 4 MiB and a partial last block. */
    private static final int SIZE = (4 << 20) + 1000;

    @TempDir
    Path tmp;

    private Path dir;
    private Path goldenPath;
    private byte[] golden;
    private byte[] goldenDigest;
    private FileBlockStore goldenStore;
    private GoldenFingerprint fingerprint;

    @BeforeEach
    void makeGolden() throws IOException {
        dir = Files.createDirectories(tmp.resolve("overlays"));
        goldenPath = tmp.resolve("golden.img");
        golden = new byte[SIZE];
        new Random(7).nextBytes(golden);
        Files.write(goldenPath, golden);
        Files.setLastModifiedTime(goldenPath, OLD);
        goldenDigest = sha256(Files.readAllBytes(goldenPath));
        goldenStore = FileBlockStore.open(goldenPath, true);
        fingerprint = GoldenFingerprint.of(goldenPath);
    }

    @AfterEach
    void goldenIsUnchanged() throws Exception {
        goldenStore.close();
    }

    private void assertGoldenUnchanged() throws Exception {
        assertThat(sha256(Files.readAllBytes(goldenPath))).isEqualTo(goldenDigest);
        assertThat(Files.getLastModifiedTime(goldenPath)).isEqualTo(OLD);
    }

    private static byte[] sha256(byte[] b) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(b);
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }

    private OverlayBlockStore open(String client) throws IOException {
        return PersistentOverlay.open(dir, client, goldenStore, goldenPath, fingerprint);
    }

    private static byte[] read(BlockStore s, long offset, int length) throws IOException {
        ByteBuf b = Unpooled.directBuffer(length);
        try {
            s.read(offset, b, length);
            byte[] out = new byte[length];
            b.getBytes(0, out);
            return out;
        } finally {
            b.release();
        }
    }

    private static void write(BlockStore s, long offset, byte[] data) throws IOException {
        ByteBuf b = Unpooled.wrappedBuffer(data);
        try {
            s.write(offset, b);
        } finally {
            b.release();
        }
    }

    private static byte[] filled(int length, int value) {
        byte[] b = new byte[length];
        Arrays.fill(b, (byte) value);
        return b;
    }

    /** Writes garbage into one header slot of {@code client}'s map file, as a damaged disk would. */
    private void damageSlot(String client, int slot) throws IOException {
        try (FileChannel ch = FileChannel.open(PersistentOverlay.mapFile(dir, client), StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(filled(16, 0x5a)), slot * 2048L + 30);
        }
    }

    /** A client's overlay with a write at 8 KiB, a partial write in the last block and a zeroed range, closed. */
    private byte[] makeAndClose(String client) throws IOException {
        byte[] view = golden.clone();
        try (OverlayBlockStore s = open(client)) {
            write(s, 8192, filled(4096, 0xaa));
            System.arraycopy(filled(4096, 0xaa), 0, view, 8192, 4096);
            write(s, SIZE - 10, filled(10, 0xbb));
            System.arraycopy(filled(10, 0xbb), 0, view, SIZE - 10, 10);
            s.writeZeroes(65536, 3 * 4096, true, false);
            Arrays.fill(view, 65536, 65536 + 3 * 4096, (byte) 0);
            s.sync();
        }
        return view;
    }

    @Test
    void anOverlayKeepsItsDataAndMapWhenOpenedAgain() throws Exception {
        assertThat(PersistentOverlay.clients(dir)).isEmpty();
        byte[] view = makeAndClose("host42");
        assertThat(PersistentOverlay.clients(dir)).containsExactly("host42");
        assertThat(dir.resolve("host42.overlay")).exists();
        assertThat(dir.resolve("host42.map")).exists();
        assertThat(dir.resolve("host42.map.new")).doesNotExist();
        PersistentOverlay.Header first = PersistentOverlay.readHeader(dir.resolve("host42.map"));
        assertThat(first.client()).isEqualTo("host42");
        assertThat(first.golden()).isEqualTo(fingerprint);
        assertThat(first.goldenPath()).isEqualTo(goldenPath.toAbsolutePath().toString());
        try (OverlayBlockStore s = open("host42")) {
            assertThat(read(s, 0, SIZE)).isEqualTo(view);
            assertThat(s.map().get(2)).isEqualTo(State.DATA);
            assertThat(s.map().get(16)).isEqualTo(State.ZERO);
            assertThat(s.map().get(0)).isEqualTo(State.GOLDEN);
            assertThat(s.map().get(s.map().blocks() - 1)).isEqualTo(State.DATA);
            assertThatThrownBy(() -> open("host42")).as("one user at a time").isInstanceOf(IOException.class);
        }
        PersistentOverlay.Header second = PersistentOverlay.readHeader(dir.resolve("host42.map"));
        assertThat(second.seq()).isGreaterThan(first.seq());
        assertThat(second.created()).isEqualTo(first.created());
        PersistentOverlay.Info info = PersistentOverlay.info(dir, "host42");
        assertThat(info.blocksWritten()).isEqualTo(1 + 1 + 3);
        assertThat(info.inUse()).isFalse();
        assertThat(info.bytesUsed()).as("sparse files: what was written, not the image's size")
                .isBetween(2 * 4096L, (long) SIZE / 2);
        assertGoldenUnchanged();
    }

    @Test
    void aDataFileWithoutAMapIsMadeAgain() throws Exception {
        makeAndClose("c1");
        Files.delete(dir.resolve("c1.map"));     // as a crash before the map's rename leaves it
        try (OverlayBlockStore s = open("c1")) {
            assertThat(read(s, 0, SIZE)).as("a fresh overlay: the golden image").isEqualTo(golden);
            assertThat(s.map().get(2)).isEqualTo(State.GOLDEN);
        }
        assertThat(dir.resolve("c1.map")).exists();
    }

    @Test
    void aLeftoverNewMapIsMadeAgain() throws Exception {
        Files.write(dir.resolve("c1.overlay"), filled(SIZE, 0x77));
        Files.write(dir.resolve("c1.map.new"), filled(5000, 0x33));
        try (OverlayBlockStore s = open("c1")) {
            assertThat(read(s, 0, SIZE)).isEqualTo(golden);
            write(s, 0, filled(4096, 1));
            s.sync();
        }
        assertThat(dir.resolve("c1.map.new")).doesNotExist();
        assertThat(PersistentOverlay.clients(dir)).containsExactly("c1");
        try (OverlayBlockStore s = open("c1")) {
            assertThat(read(s, 0, 4096)).isEqualTo(filled(4096, 1));
            assertThat(read(s, 4096, 4096)).isEqualTo(Arrays.copyOfRange(golden, 4096, 8192));
        }
    }

    @Test
    void aDamagedHeaderSlotFallsBackToTheOther() throws Exception {
        byte[] view = makeAndClose("c1");
        for (int round = 0; round < 2; round++) {
            PersistentOverlay.Header newest = PersistentOverlay.readHeader(dir.resolve("c1.map"));
            int slot = (newest.seq() & 1) == 1 ? 0 : 1;
            damageSlot("c1", slot);
            assertThat(PersistentOverlay.readHeader(dir.resolve("c1.map")).seq())
                    .as("slot %d damaged: the older slot is read", slot).isEqualTo(newest.seq() - 1);
            try (OverlayBlockStore s = open("c1")) {
                assertThat(read(s, 0, SIZE)).as("slot %d damaged", slot).isEqualTo(view);
            }
            // the open wrote its header over the damaged slot
            assertThat(PersistentOverlay.readHeader(dir.resolve("c1.map")).seq()).isEqualTo(newest.seq());
        }
    }

    @Test
    void bothHeaderSlotsDamagedIsCorruptAndNamesTheClient() throws Exception {
        makeAndClose("host-7");
        damageSlot("host-7", 0);
        damageSlot("host-7", 1);
        assertThatThrownBy(() -> open("host-7")).isInstanceOf(CorruptOverlayException.class)
                .hasMessageContaining("client 'host-7'").hasMessageContaining("no valid header");
        // the refusal took no lock and left the files as they were
        assertThat(PersistentOverlay.inUse(dir.resolve("host-7.overlay"))).isFalse();
        assertThat(dir.resolve("host-7.overlay")).exists();
    }

    @Test
    void aMapFileOfTheWrongSizeIsCorrupt() throws Exception {
        makeAndClose("c1");
        try (FileChannel ch = FileChannel.open(dir.resolve("c1.map"), StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.allocate(1), ch.size());     // one byte too many
        }
        assertThatThrownBy(() -> open("c1")).isInstanceOf(CorruptOverlayException.class)
                .hasMessageContaining("client 'c1'").hasMessageContaining("c1.map is");
        assertThat(PersistentOverlay.inUse(dir.resolve("c1.overlay"))).isFalse();
    }

    @Test
    void aDataFileOfTheWrongSizeIsCorrupt() throws Exception {
        makeAndClose("c1");
        try (FileChannel ch = FileChannel.open(dir.resolve("c1.overlay"), StandardOpenOption.WRITE)) {
            ch.truncate(SIZE - 4096);
        }
        assertThatThrownBy(() -> open("c1")).isInstanceOf(CorruptOverlayException.class)
                .hasMessageContaining("client 'c1'").hasMessageContaining("c1.overlay is " + (SIZE - 4096));
    }

    @Test
    void aGoldenImageOfAnotherSizeIsRefused() throws Exception {
        makeAndClose("c1");
        Path other = tmp.resolve("bigger.img");
        Files.write(other, Arrays.copyOf(golden, SIZE + 4096));
        try (FileBlockStore g = FileBlockStore.open(other, true)) {
            assertThatThrownBy(() -> PersistentOverlay.open(dir, "c1", g, other, GoldenFingerprint.of(other)))
                    .isInstanceOf(GoldenChangedException.class).hasMessageContaining("client 'c1'")
                    .hasMessageContaining("size").hasMessageContaining("overlays reset");
        }
    }

    @Test
    void aGoldenImageModifiedInPlaceIsRefused() throws Exception {
        makeAndClose("c1");
        Files.setLastModifiedTime(goldenPath, FileTime.from(Instant.parse("2021-01-01T00:00:00Z")));
        GoldenFingerprint now = GoldenFingerprint.of(goldenPath);
        assertThatThrownBy(() -> PersistentOverlay.open(dir, "c1", goldenStore, goldenPath, now))
                .isInstanceOf(GoldenChangedException.class).hasMessageContaining("client 'c1'")
                .hasMessageContaining("modification time");
    }

    @Test
    void aGoldenImageWithOtherContentsAndTheSameTimeIsRefused() throws Exception {
        makeAndClose("c1");
        FileTime before = Files.getLastModifiedTime(goldenPath);
        try (FileChannel ch = FileChannel.open(goldenPath, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(new byte[] {(byte) ~golden[100]}), 100);   // inside the sampled first MiB
        }
        Files.setLastModifiedTime(goldenPath, before);
        GoldenFingerprint now = GoldenFingerprint.of(goldenPath);
        assertThat(now.mtime()).as("the time was put back").isEqualTo(fingerprint.mtime());
        assertThatThrownBy(() -> PersistentOverlay.open(dir, "c1", goldenStore, goldenPath, now))
                .isInstanceOf(GoldenChangedException.class).hasMessageContaining("client 'c1'")
                .hasMessageContaining("contents differ");
        Files.write(goldenPath, golden);   // for the check after each test
        Files.setLastModifiedTime(goldenPath, OLD);
    }

    @Test
    void aMapOfAnotherClientIsCorrupt() throws Exception {
        makeAndClose("alice");
        Files.copy(dir.resolve("alice.overlay"), dir.resolve("bob.overlay"));
        Files.copy(dir.resolve("alice.map"), dir.resolve("bob.map"));
        assertThatThrownBy(() -> open("bob")).isInstanceOf(CorruptOverlayException.class)
                .hasMessageContaining("client 'bob'").hasMessageContaining("belongs to client 'alice'");
    }

    @Test
    void dotNamesStayInTheDirectory() throws Exception {
        for (String client : new String[] {".", ".."}) {
            assertThat(PersistentOverlay.dataFile(dir, client).getParent()).isEqualTo(dir);
            assertThat(PersistentOverlay.mapFile(dir, client).getParent()).isEqualTo(dir);
            try (OverlayBlockStore s = open(client)) {
                write(s, 0, filled(4096, client.length()));
                s.sync();
            }
        }
        assertThat(dir.resolve("..overlay")).isRegularFile();
        assertThat(dir.resolve("...overlay")).isRegularFile();
        assertThat(PersistentOverlay.clients(dir)).containsExactly(".", "..");
        try (Stream<Path> outside = Files.list(tmp)) {
            assertThat(outside.map(p -> p.getFileName().toString()))
                    .as("nothing was made beside the overlay directory").containsExactlyInAnyOrder("overlays",
                            "golden.img");
        }
        try (OverlayBlockStore s = open("..")) {
            assertThat(read(s, 0, 4096)).isEqualTo(filled(4096, 2));
        }
        assertThatThrownBy(() -> PersistentOverlay.dataFile(dir, "../x")).isInstanceOf(
                IllegalArgumentException.class);
        assertThatThrownBy(() -> PersistentOverlay.dataFile(dir, "")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> PersistentOverlay.dataFile(dir, "a".repeat(65)))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void everyPageOfTheMapIsOnDiskSoASyncNeedsNoNewSpace() throws Exception {
        Path big = tmp.resolve("big.img");
        try (java.io.RandomAccessFile f = new java.io.RandomAccessFile(big.toFile(), "rw")) {
            f.setLength(256L << 20);      // a map of 4 pages
        }
        Path map = PersistentOverlay.mapFile(dir, "c1");
        try (FileBlockStore g = FileBlockStore.open(big, true)) {
            GoldenFingerprint f = GoldenFingerprint.of(big);
            PersistentOverlay.open(dir, "c1", g, big, f).close();
            assertThat(Files.size(map)).isEqualTo(PersistentOverlay.MAP_OFFSET + 4 * FileOverlayMap.PAGE);
            assertThat(PersistentOverlay.allocated(map)).as("no page of a new map is a hole")
                    .isEqualTo(Files.size(map));
            // a map with holes (as an older rbd made them) gets its pages when opened
            try (FileChannel ch = FileChannel.open(map, StandardOpenOption.WRITE)) {
                ch.truncate(PersistentOverlay.MAP_OFFSET);
                ch.write(ByteBuffer.allocate(1), PersistentOverlay.MAP_OFFSET + 4 * FileOverlayMap.PAGE - 1);
            }
            assertThat(PersistentOverlay.allocated(map)).isLessThan(Files.size(map));
            PersistentOverlay.open(dir, "c1", g, big, f).close();
            assertThat(PersistentOverlay.allocated(map)).isEqualTo(Files.size(map));
        }
    }

    @Test
    void resetIsRefusedWhileInUseAndThenStartsAFreshOverlay() throws Exception {
        byte[] view = makeAndClose("c1");
        try (OverlayBlockStore s = open("c1")) {
            assertThat(PersistentOverlay.inUse(dir.resolve("c1.overlay"))).isTrue();
            assertThatThrownBy(() -> PersistentOverlay.reset(dir, "c1")).isInstanceOf(IOException.class)
                    .hasMessageContaining("in use");
            assertThat(read(s, 0, SIZE)).isEqualTo(view);
        }
        PersistentOverlay.reset(dir, "c1");
        assertThat(PersistentOverlay.clients(dir)).isEmpty();
        assertThat(dir.resolve("c1.overlay")).doesNotExist();
        try (OverlayBlockStore s = open("c1")) {
            assertThat(read(s, 0, SIZE)).isEqualTo(golden);
        }
        assertThatThrownBy(() -> PersistentOverlay.reset(dir, "nobody"))
                .isInstanceOf(java.nio.file.NoSuchFileException.class);
    }

    @Test
    void checkDirectoryRefusesAMissingDirectoryAndAFile() throws Exception {
        assertThatThrownBy(() -> PersistentOverlay.checkDirectory(tmp.resolve("missing")))
                .isInstanceOf(java.nio.file.NoSuchFileException.class).hasMessageContaining("does not exist");
        assertThatThrownBy(() -> PersistentOverlay.checkDirectory(goldenPath))
                .isInstanceOf(java.nio.file.NoSuchFileException.class);
        PersistentOverlay.checkDirectory(dir);
    }
}
