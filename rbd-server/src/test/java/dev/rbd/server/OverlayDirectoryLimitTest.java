package dev.rbd.server;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rbd.protocol.NbdReplyType;
import dev.rbd.server.export.Export;
import dev.rbd.server.store.FileBlockStore;
import dev.rbd.server.store.GoldenFingerprint;
import dev.rbd.server.store.PersistentOverlay;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code --max-overlays}: an overlay directory holds at most that many clients' overlays, so a peer the rules let in
 * cannot fill the disk with overlays under made-up names. Clients that have one keep opening it; a new one is
 * refused, with a message that names the limit and no path, until an overlay is reset.
 */
class OverlayDirectoryLimitTest {
    @TempDir
    Path dir;

    private Path overlays;
    private RbdServer server;

    @BeforeEach
    void start() throws Exception {
        Path golden = dir.resolve("golden.img");
        FileBlockStore.createSparse(golden, 1 << 20);
        overlays = Files.createDirectory(dir.resolve("overlays"));
        Export root = Export.builder("root", FileBlockStore.open(golden, true))
                .persistentOverlays(overlays, golden, GoldenFingerprint.of(golden)).maxOpenOverlays(2).build();
        server = TestServers.start(root);
    }

    @AfterEach
    void stop() {
        if (server != null) {
            server.close();
        }
    }

    private RawNbdClient.OptReply info(String name) throws Exception {
        return RawNbdClient.infoReply(server.port(), name);
    }

    @Test
    void aNewClientBeyondTheLimitIsRefusedAndTheOthersGoOn() throws Exception {
        assertThat(info("root/a").type()).isEqualTo(NbdReplyType.INFO.code());
        assertThat(info("root/b").type()).isEqualTo(NbdReplyType.INFO.code());
        RawNbdClient.OptReply third = info("root/c");
        assertThat(third.type()).isEqualTo(NbdReplyType.ERR_UNKNOWN.code());
        assertThat(third.text()).contains("holds 2 clients' overlays").contains("--max-overlays")
                .doesNotContain(dir.toString());
        assertThat(PersistentOverlay.clients(overlays)).containsExactly("a", "b");
        assertThat(info("root/a").type()).as("a client with an overlay still opens it")
                .isEqualTo(NbdReplyType.INFO.code());
        assertThat(info("root").type()).isEqualTo(NbdReplyType.INFO.code());
    }
}
