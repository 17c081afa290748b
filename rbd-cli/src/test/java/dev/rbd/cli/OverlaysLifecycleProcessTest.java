package dev.rbd.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.rbd.cli.hostile.ServerUnderTest;
import dev.rbd.client.RbdClient;
import dev.rbd.server.RbdServerMain;
import dev.rbd.server.store.PersistentOverlay;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code rbd-server overlays} run as its own process beside a running {@code rbd-server} process, as an admin runs
 * it: the server's fcntl lock on an overlay a client uses makes commit and reset refuse it; once the client left and
 * the server closed the overlay ({@code --overlay-idle}), commit writes the client's view and reset deletes it.
 * Both processes are ended by their pids.
 */
class OverlaysLifecycleProcessTest {
    private static final int SIZE = 4 << 20;

    @TempDir
    Path dir;
    private ServerUnderTest rbd;

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

    /** {@code rbd-server ARGS} as a process of its own, to its end. */
    private static ToolRun.Result rbdServer(String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElseThrow(),
                "-cp", System.getProperty("java.class.path"), RbdServerMain.class.getName()));
        cmd.addAll(List.of(args));
        return ToolRun.run(cmd);
    }

    @Test
    void commitAndResetAreRefusedWhileAServerHasTheOverlayAndWorkOnceItClosedIt() throws Exception {
        Path golden = dir.resolve("golden.img");
        Path overlays = Files.createDirectory(dir.resolve("overlays"));
        byte[] goldenBytes = new byte[SIZE];
        new Random(3).nextBytes(goldenBytes);
        Arrays.fill(goldenBytes, SIZE / 2, SIZE, (byte) 0);   // the second half a hole
        try (RandomAccessFile f = new RandomAccessFile(golden.toFile(), "rw")) {
            f.setLength(SIZE);
            f.write(goldenBytes, 0, SIZE / 2);
        }
        rbd = ServerUnderTest.export(dir, "rbd", "root=" + golden + ",overlays=" + overlays, "--overlay-idle", "1s",
                "--handshake-timeout", "1", "--session-grace", "0").start();
        byte[] written = new byte[64 << 10];
        new Random(4).nextBytes(written);
        Path next = dir.resolve("golden-2.img");

        try (RbdClient c = RbdClient.connect(rbd.uri("root/host7"))) {
            c.blocking().write(SIZE - written.length - 100, written);
            c.blocking().flush();
            ToolRun.Result commit = rbdServer("overlays", "commit", overlays.toString(), "host7", next.toString());
            assertThat(commit.exit()).as(commit.output()).isEqualTo(1);
            assertThat(commit.output()).contains("overlay of client 'host7'").contains("in use");
            ToolRun.Result reset = rbdServer("overlays", "reset", overlays.toString(), "host7");
            assertThat(reset.exit()).as(reset.output()).isEqualTo(1);
            assertThat(reset.output()).contains("in use");
            ToolRun.Result list = rbdServer("overlays", "list", overlays.toString(), "--json");
            assertThat(list.exit()).as(list.output()).isZero();
            assertThat(list.output()).contains("\"client\":\"host7\"").contains("\"in_use\":true")
                    .contains("\"golden_state\":\"ok\"");
        }
        assertThat(next).doesNotExist();

        // the client left: the server closes the overlay once unused for --overlay-idle
        Path data = overlays.resolve("host7.overlay");
        await().atMost(Duration.ofSeconds(60)).until(() -> !PersistentOverlay.inUse(data));
        ToolRun.Result commit = rbdServer("overlays", "commit", overlays.toString(), "host7", next.toString());
        assertThat(commit.exit()).as(commit.output()).isZero();
        byte[] expected = goldenBytes.clone();
        System.arraycopy(written, 0, expected, SIZE - written.length - 100, written.length);
        assertThat(Files.readAllBytes(next)).isEqualTo(expected);
        ToolRun.Result reset = rbdServer("overlays", "reset", overlays.toString(), "host7");
        assertThat(reset.exit()).as(reset.output()).isZero();
        assertThat(data).doesNotExist();

        // the next connection starts from the golden image again
        try (RbdClient c = RbdClient.connect(rbd.uri("root/host7"))) {
            byte[] back = new byte[written.length];
            c.blocking().read(SIZE - written.length - 100, back);
            assertThat(back).isEqualTo(Arrays.copyOfRange(goldenBytes, SIZE - written.length - 100, SIZE - 100));
        }
        assertThat(Files.readAllBytes(golden)).isEqualTo(goldenBytes);
    }
}
