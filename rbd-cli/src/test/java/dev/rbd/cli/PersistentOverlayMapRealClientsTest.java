package dev.rbd.cli;

import static dev.rbd.cli.ToolRun.ok;
import static org.assertj.core.api.Assertions.assertThat;

import dev.rbd.cli.hostile.ServerUnderTest;
import dev.rbd.cli.hostile.Tools;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Block status of a persistent overlay ({@code overlays=DIR}) through the real clients: qemu-io writes and trims
 * through {@code NAME/c1}; {@code nbdinfo --map} on fresh connections then shows them in {@code base:allocation} and
 * {@code qemu:allocation-depth} (1 for what c1 wrote or trimmed, 2 for golden data, 0 for golden holes), another
 * client sees the golden image alone, and all of it is the same after the server is killed with SIGKILL and started
 * again. rbd-server runs as a process ended by its pid; a missing tool skips loudly (fails under {@code CI=true}).
 */
class PersistentOverlayMapRealClientsTest {
    private static final long MIB = 1 << 20;
    private static final long SIZE = 8 * MIB;
    /** Golden data: offset and length; everything else is a hole. */
    private static final long[][] GOLDEN = {{MIB, 256 << 10}, {4 * MIB, 64 << 10}};
    /** Where c1 writes 64 KiB (over a golden hole), and what it trims (the golden data at 4 MiB). */
    private static final long WRITTEN = 2 * MIB;
    private static final long TRIMMED = 4 * MIB;

    @TempDir
    Path dir;
    private Path golden;
    private byte[] goldenBytes;
    private ServerUnderTest rbd;

    private record Extent(long offset, long length, int value) {
    }

    @BeforeEach
    void goldenImage() throws IOException {
        golden = dir.resolve("golden.img");
        Random random = new Random(23);
        try (RandomAccessFile f = new RandomAccessFile(golden.toFile(), "rw")) {
            f.setLength(SIZE);
            for (long[] d : GOLDEN) {
                byte[] b = new byte[(int) d[1]];
                random.nextBytes(b);
                f.seek(d[0]);
                f.write(b);
            }
            f.getFD().sync();
        }
        goldenBytes = Files.readAllBytes(golden);
    }

    @AfterEach
    void stop() throws IOException {
        if (rbd != null) {
            try {
                rbd.assertHealthy();
            } finally {
                rbd.close();
            }
        }
        assertThat(Files.readAllBytes(golden)).as("the golden image is unchanged").isEqualTo(goldenBytes);
    }

    private static List<Extent> nbdinfoMap(String out) {
        List<Extent> extents = new ArrayList<>();
        for (String line : out.strip().split("\n")) {
            String[] f = line.strip().split("\\s+");
            extents.add(new Extent(Long.parseLong(f[0]), Long.parseLong(f[1]), Integer.parseInt(f[2])));
        }
        return extents;
    }

    private static List<Extent> goldenMap(int data, int hole) {
        List<Extent> m = new ArrayList<>();
        long pos = 0;
        for (long[] d : GOLDEN) {
            m.add(new Extent(pos, d[0] - pos, hole));
            m.add(new Extent(d[0], d[1], data));
            pos = d[0] + d[1];
        }
        m.add(new Extent(pos, SIZE - pos, hole));
        return m;
    }

    private void assertMaps(String when) throws Exception {
        String depth = ok("nbdinfo", "--map=qemu:allocation-depth", rbd.uri("root/c1"));
        assertThat(nbdinfoMap(depth)).as(when + ":\n" + depth).containsExactly(
                new Extent(0, MIB, 0),
                new Extent(MIB, 256 << 10, 2),
                new Extent(MIB + (256 << 10), WRITTEN - MIB - (256 << 10), 0),
                new Extent(WRITTEN, 64 << 10, 1),
                new Extent(WRITTEN + (64 << 10), TRIMMED - WRITTEN - (64 << 10), 0),
                new Extent(TRIMMED, 64 << 10, 1),
                new Extent(TRIMMED + (64 << 10), SIZE - TRIMMED - (64 << 10), 0));
        String base = ok("nbdinfo", "--map", rbd.uri("root/c1"));
        assertThat(nbdinfoMap(base)).as(when + ":\n" + base).containsExactly(
                new Extent(0, MIB, 3),
                new Extent(MIB, 256 << 10, 0),
                new Extent(MIB + (256 << 10), WRITTEN - MIB - (256 << 10), 3),
                new Extent(WRITTEN, 64 << 10, 0),
                new Extent(WRITTEN + (64 << 10), SIZE - WRITTEN - (64 << 10), 3));
        String other = ok("nbdinfo", "--map=qemu:allocation-depth", rbd.uri("root/c2"));
        assertThat(nbdinfoMap(other)).as(when + ": another client:\n" + other).isEqualTo(goldenMap(2, 0));
    }

    @Test
    void nbdinfoMapsWhatAClientWroteAndTrimmedOnFreshConnectionsAndAfterASigkill() throws Exception {
        Tools.require("nbdinfo", "to map the overlay on fresh connections");
        Tools.require("qemu-io", "to write and trim through the overlay");
        Path overlays = Files.createDirectories(dir.resolve("overlays"));
        rbd = ServerUnderTest.export(dir, "rbd", "root=" + golden + ",overlays=" + overlays).start();
        ok("qemu-io", "-f", "raw", "-c", "write -P 0xa5 " + WRITTEN + " 65536", "-c", "discard " + TRIMMED + " 65536",
                "-c", "flush", rbd.uri("root/c1"));
        assertMaps("after the writes");
        rbd.kill();
        rbd.start();
        assertMaps("after SIGKILL and a restart");
        assertThat(overlays.resolve("c1.map")).exists();
    }
}
