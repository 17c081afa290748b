package dev.rbd.cli.hostile;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rbd.protocol.NbdCommand;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 11, finding 5: two rbd-server processes exported one file read-write and both took writes. Now the second
 * refuses to start, saying why, and the first serves on.
 */
class ImageLockTest {
    @TempDir
    Path dir;

    @Test
    void aSecondServerOfTheSameImageIsRefusedWithAClearMessage() throws Exception {
        Path image = dir.resolve("disk.img");
        try (ServerUnderTest first = ServerUnderTest.export(dir, "first", "disk=" + image, "--create", "16M").start();
             ServerUnderTest second = ServerUnderTest.export(dir, "second", "disk=" + image)) {
            assertThat(second.runToRefusal()).isEqualTo(1);
            assertThat(second.log()).contains("disk.img: in use by another process that holds a lock on it");
            assertThat(second.log()).doesNotContain("listening");

            try (RawNbd c = new RawNbd(first.port(), "127.0.0.1").open("disk", false)) {
                byte[] data = new byte[4096];
                Arrays.fill(data, (byte) 0x5a);
                c.request(0, NbdCommand.WRITE.code(), 1, 8192, data.length, data);
                assertThat(c.readReply(0).error()).isZero();
            }
            try (FileChannel f = FileChannel.open(image)) {
                ByteBuffer b = ByteBuffer.allocate(4096);
                f.read(b, 8192);
                assertThat(b.array()).as("the first server's write is in the image").containsOnly((byte) 0x5a);
            }
            first.assertHealthy();
        }
    }
}
