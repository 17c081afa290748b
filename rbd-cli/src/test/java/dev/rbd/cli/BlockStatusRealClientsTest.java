package dev.rbd.cli;

import static dev.rbd.cli.ToolRun.ok;
import static dev.rbd.cli.ToolRun.run;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import dev.rbd.cli.hostile.ServerUnderTest;
import dev.rbd.cli.hostile.Tools;
import java.io.IOException;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * rbd-server's BLOCK_STATUS (base:allocation) against the real clients, on a sparse 64 MiB file with data at a few
 * offsets: nbdinfo maps it as nbdkit's file plugin does, qemu-img map finds the data where it was written, and nbdcopy
 * copies it byte for byte. rbd-server and nbdkit run as processes ended by their pids; a missing tool skips loudly
 * (fails under {@code CI=true}).
 */
class BlockStatusRealClientsTest {
    private static final long SIZE = 64L << 20;
    /** Where data is written: offset and length; everything else stays a hole. */
    private static final long[][] DATA = {{1 << 20, 64 << 10}, {10L << 20, 4096}, {(32L << 20) + 8192, 1 << 20},
        {SIZE - 4096, 4096}};

    @TempDir
    Path dir;
    private Path image;
    private ServerUnderTest rbd;
    private Process nbdkit;

    @BeforeEach
    void sparseImage() throws IOException {
        image = dir.resolve("sparse.img");
        Random random = new Random(13);
        try (FileChannel ch = FileChannel.open(image, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            // FileChannel.truncate never extends a file: writing the last byte sets the size (that block is data anyway)
            ch.write(ByteBuffer.allocate(1), SIZE - 1);
            for (long[] d : DATA) {
                byte[] b = new byte[(int) d[1]];
                random.nextBytes(b);
                ch.write(ByteBuffer.wrap(b), d[0]);
            }
            ch.force(true);
        }
    }

    @AfterEach
    void stop() throws InterruptedException {
        if (rbd != null) {
            try {
                rbd.assertHealthy();
            } finally {
                rbd.close();
            }
        }
        if (nbdkit != null && nbdkit.isAlive()) {
            nbdkit.destroy();
            if (!nbdkit.waitFor(10, TimeUnit.SECONDS)) {
                nbdkit.destroyForcibly();
                nbdkit.waitFor(10, TimeUnit.SECONDS);
            }
        }
    }

    private String startRbd() throws Exception {
        rbd = ServerUnderTest.export(dir, "rbd", "sparse=" + image, "--readonly").start();
        return rbd.uri("sparse");
    }

    private String startNbdkit() throws Exception {
        int port = ServerUnderTest.freePort();
        nbdkit = new ProcessBuilder("nbdkit", "-f", "-r", "-i", "127.0.0.1", "-p", String.valueOf(port), "file",
                "file=" + image).redirectErrorStream(true).redirectOutput(dir.resolve("nbdkit.log").toFile()).start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!accepts(port)) {
            if (!nbdkit.isAlive() || System.nanoTime() > deadline) {
                fail("nbdkit did not start: " + Files.readString(dir.resolve("nbdkit.log")));
            }
            Thread.sleep(20); // polling a connect: nbdkit has no other way to say it is up
        }
        return "nbd://127.0.0.1:" + port + "/";
    }

    private static boolean accepts(int port) {
        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    @Test
    void nbdinfoMapsTheImageAsNbdkitDoes() throws Exception {
        Tools.require("nbdinfo", "to map the exports");
        Tools.require("nbdkit", "to serve the same file for comparison");
        String ours = ok("nbdinfo", "--map", "--json", startRbd());
        String theirs = ok("nbdinfo", "--map", "--json", startNbdkit());
        assertThat(ours).isEqualTo(theirs);
        // and it is not "all data": the holes are there
        assertThat(ok("nbdinfo", "--map", rbd.uri("sparse"))).contains("hole,zero").contains("data");
        // LIST_META_CONTEXT: nbdinfo shows the contexts an export offers
        assertThat(ok("nbdinfo", "--json", rbd.uri("sparse"))).contains("\"base:allocation\"");
    }

    @Test
    void qemuImgMapShowsTheDataWhereItWasWritten() throws Exception {
        Tools.require("qemu-img", "to map the export");
        String out = ok("qemu-img", "map", "--output=json", startRbd());
        List<String> data = new ArrayList<>();
        Matcher m = Pattern.compile("\"start\": (\\d+), \"length\": (\\d+)[^}]*\"data\": true").matcher(out);
        while (m.find()) {
            data.add(m.group(1) + "+" + m.group(2));
        }
        List<String> written = new ArrayList<>();
        for (long[] d : DATA) {
            written.add(d[0] + "+" + d[1]);
        }
        assertThat(data).as(out).isEqualTo(written);
    }

    @Test
    void nbdcopyCopiesTheImageAndKeepsItsHoles() throws Exception {
        Tools.require("nbdcopy", "to copy the export");
        Path copy = dir.resolve("copy.img");
        Files.createFile(copy);
        ok("nbdcopy", startRbd(), copy.toString());
        assertThat(Files.size(copy)).isEqualTo(SIZE);
        assertThat(Files.mismatch(image, copy)).as("the copy is identical").isEqualTo(-1L);
        long data = 0;
        for (long[] d : DATA) {
            data += d[1];
        }
        assertThat(allocatedBytes(copy)).as("the holes stay holes").isLessThan(data + (4L << 20));
    }

    /** Allocated bytes of a file (st_blocks * 512), from stat(1). */
    private static long allocatedBytes(Path p) throws Exception {
        return Long.parseLong(ok("stat", "-c", "%b", p.toString()).trim()) * 512;
    }
}
