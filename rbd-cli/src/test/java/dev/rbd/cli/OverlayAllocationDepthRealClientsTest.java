package dev.rbd.cli;

import static dev.rbd.cli.ToolRun.ok;
import static dev.rbd.cli.ToolRun.run;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

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
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code qemu:allocation-depth} of an {@code overlays=temp} export, through the real clients: libnbd's Python
 * bindings (what nbdsh runs) write 64 KiB through {@code NAME/c1} and map both contexts in that same connection (each
 * connection has its own overlay); {@code nbdinfo} on a fresh connection sees only the golden image. The golden file
 * never changes. rbd-server runs as a process ended by its pid; a missing tool skips loudly (fails under
 * {@code CI=true}).
 */
class OverlayAllocationDepthRealClientsTest {
    private static final long MIB = 1 << 20;
    private static final long SIZE = 8 * MIB;
    /** Golden data: offset and length; everything else is a hole. */
    private static final long[][] GOLDEN = {{MIB, 256 << 10}, {4 * MIB, 64 << 10}};
    /** Where the client writes 64 KiB: over a golden hole. */
    private static final long WRITTEN = 2 * MIB;

    @TempDir
    Path dir;
    private Path golden;
    private byte[] goldenBytes;
    private ServerUnderTest rbd;

    /** An extent of a map: offset, length, and the context's value. */
    private record Extent(long offset, long length, int value) {
    }

    @BeforeEach
    void goldenImage() throws IOException {
        golden = dir.resolve("golden.img");
        Random random = new Random(17);
        try (RandomAccessFile f = new RandomAccessFile(golden.toFile(), "rw")) {
            f.setLength(SIZE);   // sparse: only the data below is allocated
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
    void stop() {
        if (rbd != null) {
            try {
                rbd.assertHealthy();
            } finally {
                rbd.close();
            }
        }
    }

    /**
     * A python3 that has libnbd's bindings (nbdsh's own): the one on PATH, else the system's (a python3 of its own
     * on PATH may lack them). None: a loud skip, a failure under CI.
     */
    private static String pythonWithLibnbd() throws Exception {
        for (String python : List.of("python3", "/usr/bin/python3")) {
            if ((python.startsWith("/") ? Files.isExecutable(Path.of(python)) : Tools.onPath(python))
                    && run(python, "-c", "import nbd").exit() == 0) {
                return python;
            }
        }
        String message = "SKIPPED: no python3 with libnbd's bindings (import nbd); install python3-libnbd (nbdsh)";
        if ("true".equals(System.getenv("CI")) || "1".equals(System.getenv("RBD_INTEROP_REQUIRE_ALL"))) {
            fail(message + " (CI=true or RBD_INTEROP_REQUIRE_ALL=1: every tool must be installed)");
        }
        System.err.println(message);
        Assumptions.abort(message);
        return null;
    }

    /** Parses nbdinfo's plain {@code --map} lines: offset, length, value, description. */
    private static List<Extent> nbdinfoMap(String out) {
        List<Extent> extents = new ArrayList<>();
        for (String line : out.strip().split("\n")) {
            String[] f = line.strip().split("\\s+");
            extents.add(new Extent(Long.parseLong(f[0]), Long.parseLong(f[1]), Integer.parseInt(f[2])));
        }
        return extents;
    }

    /** The extents of the golden image with {@code data} for its data and {@code hole} for the rest. */
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

    @Test
    void depthIsOneForWhatTheConnectionWroteTwoForGoldenDataZeroForGoldenHoles() throws Exception {
        Tools.require("nbdinfo", "to map the export on fresh connections");
        String python = pythonWithLibnbd();
        rbd = ServerUnderTest.export(dir, "rbd", "kiosk=" + golden + ",overlays=temp").start();

        // one connection: write 64 KiB over a golden hole, then map both contexts (merged runs, one line each)
        String script = String.join("\n",
                "import nbd, sys",
                "h = nbd.NBD()",
                "h.add_meta_context('base:allocation')",
                "h.add_meta_context('qemu:allocation-depth')",
                "h.connect_uri(sys.argv[1])",
                "assert h.can_meta_context('qemu:allocation-depth')",
                "h.pwrite(b'\\xa5' * 65536, " + WRITTEN + ")",
                "size = h.get_size()",
                "runs = {}",
                "for ctx in ('base:allocation', 'qemu:allocation-depth'):",
                "    pos = 0",
                "    while pos < size:",
                "        got = []",
                "        def cb(metacontext, offset, entries, err):",
                "            if metacontext == ctx:",
                "                got.extend(entries)",
                "            return 0",
                "        h.block_status(size - pos, pos, cb)",
                "        assert got, 'no extents for ' + ctx",
                "        for i in range(0, len(got), 2):",
                "            n, v = min(got[i], size - pos), got[i + 1]",
                "            r = runs.setdefault(ctx, [])",
                "            if r and r[-1][2] == v and r[-1][0] + r[-1][1] == pos:",
                "                r[-1][1] += n",
                "            else:",
                "                r.append([pos, n, v])",
                "            pos += n",
                "            if pos >= size:",
                "                break",
                "    for o, n, v in runs[ctx]:",
                "        print(ctx, o, n, v)",
                "h.shutdown()",
                "");
        Path py = dir.resolve("map.py");
        Files.writeString(py, script);
        String out = ok(python, py.toString(), rbd.uri("kiosk/c1"));
        List<Extent> depth = new ArrayList<>();
        List<Extent> base = new ArrayList<>();
        for (String line : out.strip().split("\n")) {
            String[] f = line.split(" ");
            Extent e = new Extent(Long.parseLong(f[1]), Long.parseLong(f[2]), Integer.parseInt(f[3]));
            (f[0].equals("qemu:allocation-depth") ? depth : base).add(e);
        }
        assertThat(depth).as(out).containsExactly(
                new Extent(0, MIB, 0),
                new Extent(MIB, 256 << 10, 2),
                new Extent(MIB + (256 << 10), WRITTEN - MIB - (256 << 10), 0),
                new Extent(WRITTEN, 64 << 10, 1),
                new Extent(WRITTEN + (64 << 10), 4 * MIB - WRITTEN - (64 << 10), 0),
                new Extent(4 * MIB, 64 << 10, 2),
                new Extent(4 * MIB + (64 << 10), SIZE - 4 * MIB - (64 << 10), 0));
        assertThat(base).as(out).containsExactly(
                new Extent(0, MIB, 3),
                new Extent(MIB, 256 << 10, 0),
                new Extent(MIB + (256 << 10), WRITTEN - MIB - (256 << 10), 3),
                new Extent(WRITTEN, 64 << 10, 0),
                new Extent(WRITTEN + (64 << 10), 4 * MIB - WRITTEN - (64 << 10), 3),
                new Extent(4 * MIB, 64 << 10, 0),
                new Extent(4 * MIB + (64 << 10), SIZE - 4 * MIB - (64 << 10), 3));

        // a fresh connection has a fresh overlay: the golden image alone, as nbdinfo prints it
        String fresh = ok("nbdinfo", "--map=qemu:allocation-depth", rbd.uri("kiosk"));
        assertThat(nbdinfoMap(fresh)).as(fresh).isEqualTo(goldenMap(2, 0)).noneMatch(e -> e.value() == 1);
        assertThat(fresh).contains("backing depth 2").contains("absent").doesNotContain("local");
        String map = ok("nbdinfo", "--map", rbd.uri("kiosk/c1"));
        assertThat(nbdinfoMap(map)).as(map).isEqualTo(goldenMap(0, 3));
        // nbdinfo lists the context for the overlay export
        assertThat(ok("nbdinfo", "--json", rbd.uri("kiosk"))).contains("\"qemu:allocation-depth\"");

        assertThat(Files.readAllBytes(golden)).as("the golden image is unchanged").isEqualTo(goldenBytes);
    }
}
