package dev.rbd.server.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FileBlockStoreTest {
    @TempDir
    Path dir;

    /** Allocated 512-byte blocks of a file (st_blocks), from stat(1). */
    private static long allocatedBlocks(Path p) throws Exception {
        Process proc = new ProcessBuilder("stat", "-c", "%b", p.toString()).redirectErrorStream(true).start();
        String out = new String(proc.getInputStream().readAllBytes()).trim();
        assertThat(proc.waitFor()).isZero();
        return Long.parseLong(out);
    }

    /** posix_fadvise(DONTNEED) over the whole file. */
    private static void dropFromPageCache(Path p) {
        int fd = NativeIo.open(p.toString(), NativeIo.O_RDONLY);
        try {
            assertThat(NativeIo.posix_fadvise(fd, 0, 0, NativeIo.POSIX_FADV_DONTNEED)).isZero();
        } finally {
            NativeIo.close(fd);
        }
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

    @Test
    void createsSparseImagesAndRefusesMissingOnes() throws Exception {
        Path img = dir.resolve("a.img");
        assertThatThrownBy(() -> FileBlockStore.open(img, false)).isInstanceOf(NoSuchFileException.class)
                .hasMessageContaining("--create");
        FileBlockStore.createSparse(img, 1L << 30);
        assertThat(Files.size(img)).isEqualTo(1L << 30);
        assertThat(allocatedBlocks(img)).isLessThan(64);
        try (FileBlockStore s = FileBlockStore.open(img, false)) {
            assertThat(s.size()).isEqualTo(1L << 30);
            assertThat(s.isBlockDevice()).isFalse();
        }
    }

    @Test
    void anImageIsOpenedOnceByOneServerAndReleasedWhenClosed() throws Exception {
        Path img = dir.resolve("locked.img");
        FileBlockStore.createSparse(img, 1 << 20);
        try (FileBlockStore s = FileBlockStore.open(img, false)) {
            assertThatThrownBy(() -> FileBlockStore.open(img, false)).isInstanceOf(IOException.class)
                    .hasMessage(img + ": exported twice by this server (one export per image)");
            assertThatThrownBy(() -> FileBlockStore.open(img, true)).isInstanceOf(IOException.class)
                    .hasMessageContaining("exported twice");
        }
        // closing the store let go of its lock
        try (FileBlockStore s = FileBlockStore.open(img, false)) {
            assertThat(s.size()).isEqualTo(1 << 20);
        }
    }

    @Test
    void writesReadsAndSyncsThroughDirectAndCompositeBuffers() throws Exception {
        Path img = dir.resolve("b.img");
        FileBlockStore.createSparse(img, 1 << 20);
        try (FileBlockStore s = FileBlockStore.open(img, false)) {
            byte[] a = new byte[3000];
            Arrays.fill(a, (byte) 7);
            byte[] b = new byte[5000];
            Arrays.fill(b, (byte) 9);
            ByteBuf composite = Unpooled.wrappedBuffer(Unpooled.directBuffer().writeBytes(a),
                    Unpooled.directBuffer().writeBytes(b));
            s.write(4096, composite);
            composite.release();
            s.sync();
            byte[] got = read(s, 4096, 8000);
            assertThat(Arrays.copyOfRange(got, 0, 3000)).containsOnly(7);
            assertThat(Arrays.copyOfRange(got, 3000, 8000)).containsOnly(9);
        }
    }

    @Test
    void trimAndWriteZeroesPunchHolesButNoHoleKeepsBlocksAllocated() throws Exception {
        Path img = dir.resolve("c.img");
        FileBlockStore.createSparse(img, 8 << 20);
        try (FileBlockStore s = FileBlockStore.open(img, false)) {
            assumeTrue(s.canTrim(), "SKIP: this file system cannot punch holes");
            byte[] ones = new byte[4 << 20];
            Arrays.fill(ones, (byte) 1);
            s.write(0, Unpooled.wrappedBuffer(ones));
            s.sync();
            long full = allocatedBlocks(img);
            assertThat(full).isGreaterThanOrEqualTo((4 << 20) / 512);

            s.trim(0, 1 << 20);
            s.writeZeroes(1 << 20, 1 << 20, true, false);
            s.sync();
            long afterPunch = allocatedBlocks(img);
            assertThat(afterPunch).as("trim and zero without NO_HOLE deallocate").isLessThanOrEqualTo(full - 2 * 2048);

            s.writeZeroes(2 << 20, 1 << 20, false, true);
            s.sync();
            assertThat(allocatedBlocks(img)).as("NO_HOLE keeps the blocks").isEqualTo(afterPunch);
            assertThat(read(s, 1 << 20, 2 << 20)).containsOnly(0);
            assertThat(read(s, 3 << 20, 1 << 20)).containsOnly(1);
        }
    }

    @Test
    void readsThatCannotWaitSucceedOnlyForDataInMemory() throws Exception {
        assumeTrue(NativeIo.available(), "no native calls on this platform");
        Path img = dir.resolve("cached.img");
        byte[] data = new byte[64 << 10];
        new java.util.Random(3).nextBytes(data);
        Files.write(img, data);
        try (FileBlockStore s = FileBlockStore.open(img, false)) {
            // written and not yet synced: in the page cache
            ByteBuf b = Unpooled.directBuffer(8192, 8192);
            try {
                assertThat(s.readIfCached(4096, b, 8192)).isTrue();
                byte[] got = new byte[8192];
                b.getBytes(0, got);
                assertThat(got).isEqualTo(Arrays.copyOfRange(data, 4096, 4096 + 8192));

                // synced and dropped from the page cache: the read would wait for the disk, so it is refused.
                // DONTNEED is advice the kernel may not take at once (a page it still holds stays cached, and a
                // read of it rightly succeeds), so the pages are dropped again until the read is refused.
                s.sync();
                await().atMost(Duration.ofSeconds(10)).until(() -> {
                    dropFromPageCache(img);
                    b.clear();
                    return !s.readIfCached(32768, b, 8192);
                });
                assertThat(b.writerIndex()).isZero();

                // past the end of the file: refused, left to the ordinary read and its error
                assertThat(s.readIfCached(data.length - 4096, b, 8192)).isFalse();
            } finally {
                b.release();
            }
        }
    }

    @Test
    void readOnlyStoreCannotTrimOrWrite() throws Exception {
        Path img = dir.resolve("d.img");
        FileBlockStore.createSparse(img, 1 << 20);
        try (FileBlockStore s = FileBlockStore.open(img, true)) {
            assertThat(s.canTrim()).isFalse();
            assertThatThrownBy(() -> s.write(0, Unpooled.wrappedBuffer(new byte[1])))
                    .isInstanceOf(java.nio.channels.NonWritableChannelException.class);
        }
    }

    @Test
    void blockDeviceSizeComesFromTheDevice() throws Exception {
        Path img = dir.resolve("loop.img");
        FileBlockStore.createSparse(img, 16 << 20);
        Process p;
        try {
            p = new ProcessBuilder("losetup", "-f", "--show", img.toString()).redirectErrorStream(true).start();
        } catch (IOException e) {
            assumeTrue(false, "SKIP: losetup not available: " + e.getMessage());
            return;
        }
        String dev = new String(p.getInputStream().readAllBytes()).trim();
        assumeTrue(p.waitFor() == 0 && dev.startsWith("/dev/"), "SKIP: no loop device here: " + dev);
        try (FileBlockStore s = FileBlockStore.open(Path.of(dev), false)) {
            assertThat(s.isBlockDevice()).isTrue();
            assertThat(s.size()).isEqualTo(16 << 20);
            s.write(512, Unpooled.wrappedBuffer(new byte[] {42}));
            s.sync();
            assertThat(read(s, 512, 1)).containsExactly(42);
        } finally {
            new ProcessBuilder("losetup", "-d", dev).start().waitFor();
        }
    }

    private static String allocation(BlockStore s, long offset, long length, int max) throws IOException {
        Extents e = new Extents(offset, length, max);
        s.allocation(e);
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < e.count(); i++) {
            b.append(i == 0 ? "" : " ").append(e.length(i)).append(e.flags(i) == 0 ? "d" : e.flags(i) == 3 ? "h" : "?");
        }
        return b.toString();
    }

    @Test
    void findsHolesAndDataWithSeekDataAndSeekHole() throws Exception {
        Path img = dir.resolve("sparse.img");
        FileBlockStore.createSparse(img, 8L << 20);
        try (FileBlockStore s = FileBlockStore.open(img, false)) {
            byte[] ones = new byte[65536];
            Arrays.fill(ones, (byte) 1);
            s.write(1 << 20, Unpooled.wrappedBuffer(ones));
            s.write(5 << 20, Unpooled.wrappedBuffer(ones, 0, 4096));
            s.sync();
            String all = allocation(s, 0, 8L << 20, 1000);
            assumeTrue(!all.equals("8388608d"), "SKIP: this file system does not report holes to lseek");
            assertThat(all).isEqualTo("1048576h 65536d 4128768h 4096d 3141632h");
            // unaligned ends are cut at the request; the last hole reaches the end of the file (ENXIO)
            assertThat(allocation(s, 1000, (1 << 20) + 100, 1000)).isEqualTo("1047576h 1100d");
            assertThat(allocation(s, (5 << 20) + 4095, (3L << 20) - 4095, 1000)).isEqualTo("1d 3141632h");
            // one extent only: the first, cut at the request's end
            assertThat(allocation(s, (1 << 20) + 10, 1 << 20, 1)).isEqualTo("65526d");
            // two at most: the range is then covered only in part
            assertThat(allocation(s, 0, 8L << 20, 2)).isEqualTo("1048576h 65536d");
        }
        // read-only images are answered too
        try (FileBlockStore s = FileBlockStore.open(img, true)) {
            assertThat(allocation(s, 0, 2L << 20, 1000)).isEqualTo("1048576h 65536d 983040h");
        }
    }
}
