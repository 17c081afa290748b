package dev.rbd.cli.hostile;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rbd.protocol.NbdCommand;
import dev.rbd.protocol.NbdConstants;
import java.io.RandomAccessFile;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Found by the soak: READs larger than the server streams in parts (above 2 MiB), pipelined on one connection with
 * simple replies, must each arrive whole, header then all of its own data: simple replies cannot interleave. Each
 * 4 MiB region of the image holds its own byte value, so a reply carrying another read's data shows at once.
 */
class PipelinedLargeReadsTest {
    private static final int READ = 4 << 20;
    private static final int READS = 4;

    @TempDir
    Path dir;

    @Test
    void pipelinedStreamedSimpleRepliesDoNotInterleave() throws Exception {
        Path image = dir.resolve("disk.img");
        try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "rw")) {
            byte[] region = new byte[READ];
            for (int i = 0; i <= READS; i++) {
                Arrays.fill(region, (byte) (i + 1));
                f.seek((long) i * READ);
                f.write(region);
            }
        }
        try (ServerUnderTest server = ServerUnderTest.export(dir, "server", "disk=" + image).start()) {
            for (int round = 0; round < 3; round++) {
                try (RawNbd c = new RawNbd(server.port(), "127.0.0.1").open("disk", false)) {
                    for (int k = 1; k <= READS; k++) {
                        c.request(0, NbdCommand.READ.code(), k, (long) k * READ, READ, null);
                    }
                    Set<Long> seen = new HashSet<>();
                    for (int i = 0; i < READS; i++) {
                        assertThat(c.in.readInt()).as("round %d, reply %d: magic", round, i)
                                .isEqualTo(NbdConstants.SIMPLE_REPLY_MAGIC);
                        assertThat(c.in.readInt()).as("error").isZero();
                        long cookie = c.in.readLong();
                        assertThat(cookie).isBetween(1L, (long) READS);
                        assertThat(seen.add(cookie)).as("cookie %d answered once", cookie).isTrue();
                        byte[] data = new byte[READ];
                        c.in.readFully(data);
                        int wrong = mismatch(data, (byte) (cookie + 1));
                        assertThat(wrong).as("round %d: first byte of cookie %d's reply that is not its own data",
                                round, cookie).isEqualTo(-1);
                    }
                }
            }
            server.assertHealthy();
        }
    }

    private static int mismatch(byte[] data, byte expected) {
        for (int i = 0; i < data.length; i++) {
            if (data[i] != expected) {
                return i;
            }
        }
        return -1;
    }
}
