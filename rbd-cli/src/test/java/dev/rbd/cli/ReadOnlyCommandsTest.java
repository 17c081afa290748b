package dev.rbd.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rbd.client.RbdClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Commands that only read (info, list, read, and copy from an export) work while another client holds the export's
 * writer slot, and take no slot themselves; a command that writes is still refused.
 */
class ReadOnlyCommandsTest {
    private CliHarness cli;
    private RbdClient writer;
    private final byte[] data = new byte[64 << 10];

    @BeforeEach
    void startWithAWriter() {
        cli = new CliHarness();
        Arrays.fill(data, (byte) 0x3c);
        writer = RbdClient.connect(cli.uri("disk"));
        writer.blocking().write(0, data);
        assertThat(cli.server.context().export("disk").writerLock().owner()).startsWith("session ");
    }

    @AfterEach
    void stop() {
        if (writer != null) {
            writer.close();
        }
        if (cli != null) {
            cli.close();
        }
    }

    @Test
    void infoShowsTheExportAsWritableWhileAnotherClientWrites() {
        assertThat(cli.cli("info", "disk")).as(cli.err.toString()).isZero();
        assertThat(cli.out.toString()).contains("is_read_only: false").doesNotContain("read_only ");
        assertThat(cli.cli("info", "disk", "--json")).as(cli.err.toString()).isZero();
        assertThat(cli.out.toString()).contains("\"read_only\":false").doesNotContain("\"read_only\"]");
        assertThat(cli.cli("info", "ro")).as(cli.err.toString()).isZero();
        assertThat(cli.out.toString()).contains("is_read_only: true");
    }

    @Test
    void listAndReadWorkWhileAnotherClientWrites() {
        assertThat(cli.cli("list", "disk")).as(cli.err.toString()).isZero();
        assertThat(cli.out.toString()).contains("disk");
        assertThat(cli.cli("read", "disk", "--length", "64k")).as(cli.err.toString()).isZero();
        assertThat(cli.bytes.toByteArray()).isEqualTo(data);
    }

    @Test
    void copyFromTheExportWorksWhileAnotherClientWrites(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("copy.raw");
        assertThat(cli.run("copy", cli.uri("disk"), file.toString(), "--quiet")).as(cli.err.toString()).isZero();
        assertThat(Arrays.copyOf(Files.readAllBytes(file), data.length)).isEqualTo(data);
    }

    @Test
    void aWritingCommandIsStillRefusedAndReadersHeldNoSlot() {
        assertThat(cli.cli("info", "disk")).isZero();
        assertThat(cli.run(new byte[4096], ReadCommand.CHUNK, "write", cli.uri("disk"))).isEqualTo(1);
        assertThat(cli.err.toString()).contains("in use read-write");
        writer.close();
        writer = null;
        // the readers left nothing behind: the slot is free for the next writer at once
        assertThat(cli.run(new byte[4096], ReadCommand.CHUNK, "write", cli.uri("disk"))).as(cli.err.toString())
                .isZero();
    }
}
