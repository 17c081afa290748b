package dev.rbd.cli.hostile;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.rbd.protocol.NbdReplyType;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 11, finding 6: Ctrl-C during {@code rbd-cli copy} left the export locked for its reconnect grace, and
 * {@code rbd-cli info}, which only reads, was refused while another client wrote. Now SIGINT makes rbd-cli let go
 * at once, and reading commands take no writer slot.
 */
class CliLetsGoTest {
    private static final int MIB = 1 << 20;
    /** Big enough that the copy still runs when it is interrupted: hundreds of durable 1 MiB writes. */
    private static final int SOURCE_MIB = 384;

    @TempDir
    Path dir;

    @Test
    void sigintDuringACopyFreesTheExportAtOnce() throws Exception {
        Path image = dir.resolve("disk.img");
        Path source = dir.resolve("source.raw");
        byte[] chunk = new byte[MIB];
        Arrays.fill(chunk, (byte) 0x3c);
        try (OutputStream out = Files.newOutputStream(source)) {
            for (int i = 0; i < SOURCE_MIB; i++) {
                out.write(chunk);
            }
        }
        try (ServerUnderTest server = ServerUnderTest.export(dir, "server", "disk=" + image, "--create", "512M")
                .start()) {
            String uri = server.uri("disk");
            try (CliProcess copy = CliProcess.start(dir, null, "copy", source.toString(), uri, "--quiet")) {
                await("the copy has started writing").atMost(Duration.ofSeconds(30))
                        .pollInterval(Duration.ofMillis(20)).until(() -> holdsData(image) || !copy.isAlive());
                assertThat(copy.isAlive()).as("the copy still runs when interrupted; stderr: %s", copy.stderr())
                        .isTrue();
                copy.interrupt();
                CliProcess.Result interrupted = copy.await(30);
                assertThat(interrupted.exit()).as("rbd-cli copy after SIGINT; stderr: %s", interrupted.err())
                        .isEqualTo(130);
            }
            Path small = dir.resolve("small.bin");
            byte[] data = new byte[4096];
            Arrays.fill(data, (byte) 0x77);
            Files.write(small, data);
            CliProcess.Result write = CliProcess.run(dir, null, "write", uri, "--offset", "0", "--input",
                    small.toString(), "--sync");
            assertThat(write.exit()).as("rbd-cli write right after the interrupted copy; stderr: %s", write.err())
                    .isZero();
            Path back = dir.resolve("back.bin");
            CliProcess.Result read = CliProcess.run(dir, null, "read", uri, "--offset", "0", "--length", "4k",
                    "--output", back.toString());
            assertThat(read.exit()).as("stderr: %s", read.err()).isZero();
            assertThat(Files.readAllBytes(back)).isEqualTo(data);
            server.assertHealthy();
        }
    }

    @Test
    void infoAndReadNeedNoWriterSlot() throws Exception {
        try (ServerUnderTest server = ServerUnderTest.export(dir, "server", "disk=" + dir.resolve("disk.img"),
                "--create", "16M").start();
             RawNbd writer = new RawNbd(server.port(), "127.0.0.2")) {
            writer.greet();
            assertThat(writer.go("disk").type()).as("another client takes the writer slot")
                    .isEqualTo(NbdReplyType.ACK.code());
            String uri = server.uri("disk");

            CliProcess.Result info = CliProcess.run(dir, null, "info", uri);
            assertThat(info.exit()).as("rbd-cli info while another client writes; stderr: %s", info.err()).isZero();
            assertThat(info.out()).contains("16");

            Path out = dir.resolve("out.bin");
            CliProcess.Result read = CliProcess.run(dir, null, "read", uri, "--offset", "1M", "--length", "4k",
                    "--output", out.toString());
            assertThat(read.exit()).as("rbd-cli read while another client writes; stderr: %s", read.err()).isZero();
            assertThat(Files.size(out)).isEqualTo(4096);

            Path small = dir.resolve("small.bin");
            Files.write(small, new byte[512]);
            CliProcess.Result write = CliProcess.run(dir, null, "write", uri, "--input", small.toString());
            assertThat(write.exit()).as("a second writer is still refused; stderr: %s", write.err()).isEqualTo(1);
            server.assertHealthy();
        }
    }

    /** The copy's first writes have reached the image. */
    private static boolean holdsData(Path image) throws IOException {
        try (FileChannel f = FileChannel.open(image)) {
            ByteBuffer b = ByteBuffer.allocate(MIB);
            for (long at = 0; at < SOURCE_MIB * (long) MIB; at += 32L * MIB) {
                b.clear();
                f.read(b, at);
                for (int i = 0; i < b.position(); i += 4096) {
                    if (b.get(i) != 0) {
                        return true;
                    }
                }
            }
            return false;
        }
    }
}
