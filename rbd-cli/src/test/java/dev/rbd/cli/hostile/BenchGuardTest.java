package dev.rbd.cli.hostile;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.HexFormat;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 11, finding 8: {@code rbd-cli bench --pattern randwrite} sampled 64 blocks, found nothing, and overwrote an
 * export holding data at 1M and 4M-14M. Now any data anywhere makes a writing bench refuse without
 * {@code --force}, and the image is unchanged.
 */
class BenchGuardTest {
    private static final int MIB = 1 << 20;

    @TempDir
    Path dir;

    private Path spread;
    private Path lastByte;

    @BeforeEach
    void images() throws IOException {
        spread = dir.resolve("spread.img");
        lastByte = dir.resolve("tail.img");
        byte[] block = new byte[MIB];
        Arrays.fill(block, (byte) 0xe5);
        try (RandomAccessFile f = new RandomAccessFile(spread.toFile(), "rw")) {
            f.setLength(16L * MIB);
            f.seek(MIB);
            f.write(block, 0, 4096);
            for (int m = 4; m < 14; m++) {
                f.seek((long) m * MIB);
                f.write(block);
            }
        }
        try (RandomAccessFile f = new RandomAccessFile(lastByte.toFile(), "rw")) {
            f.setLength(16L * MIB);
            f.seek(16L * MIB - 1);
            f.write(0x01);
        }
    }

    @Test
    void theOptionNamesTheSuiteUsesAreBenchs() throws Exception {
        CliProcess.Result help = CliProcess.run(dir, null, "bench", "--help");
        assertThat(help.exit()).isZero();
        assertThat(help.out()).contains("--pattern", "randwrite", "--bs", "--duration", "--ramp", "--force");
    }

    @Test
    void aWritingBenchRefusesAnExportHoldingDataAnywhereWithoutForce() throws Exception {
        String spreadSum = sha256(spread);
        String tailSum = sha256(lastByte);
        try (ServerUnderTest server = ServerUnderTest.export(dir, "server", "spread=" + spread, "tail=" + lastByte)
                .start()) {
            for (String export : new String[] {"spread", "tail"}) {
                for (String bs : new String[] {"4k", "512"}) {
                    CliProcess.Result r = CliProcess.run(dir, null, "bench", server.uri(export), "--pattern",
                            "randwrite", "--bs", bs, "--duration", "2s", "--ramp", "0");
                    assertThat(r.exit()).as("bench randwrite --bs %s on %s; stdout %s stderr %s", bs, export,
                            r.out(), r.err()).isEqualTo(1);
                    assertThat(r.err()).contains("--force");
                }
            }
            server.assertHealthy();
        }
        assertThat(sha256(spread)).as("the data at 1M and 4M-14M").isEqualTo(spreadSum);
        assertThat(sha256(lastByte)).as("the last byte").isEqualTo(tailSum);
    }

    private static String sha256(Path file) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(file)));
    }
}
