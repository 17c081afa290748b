package dev.rbd.server;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rbd.protocol.NbdReplyType;
import dev.rbd.server.export.Export;
import dev.rbd.server.store.FileBlockStore;
import dev.rbd.server.store.GoldenFingerprint;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A golden image written in place while the server serves it makes every overlay over it undefined: no client's
 * overlay opens any more (ERR_UNKNOWN, saying the server must be restarted). One put in its place by a rename is
 * not: the server keeps reading the file it opened, which the overlays were made over.
 */
class GoldenChangedWhileServedTest {
    @TempDir
    Path dir;

    private Path golden;
    private RbdServer server;

    @BeforeEach
    void start() throws Exception {
        golden = dir.resolve("golden.img");
        FileBlockStore.createSparse(golden, 1 << 20);
        Files.setLastModifiedTime(golden, FileTime.from(Instant.parse("2026-01-01T00:00:00Z")));
        Path overlays = Files.createDirectory(dir.resolve("overlays"));
        Export root = Export.builder("root", FileBlockStore.open(golden, true))
                .persistentOverlays(overlays, golden, GoldenFingerprint.of(golden)).build();
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
    void aGoldenImageWrittenInPlaceStopsEveryOverlayFromOpening() throws Exception {
        assertThat(info("root/host1").type()).isEqualTo(NbdReplyType.INFO.code());
        try (FileChannel ch = FileChannel.open(golden, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(new byte[] {1}), 4096);
        }
        Files.setLastModifiedTime(golden, FileTime.from(Instant.parse("2026-02-01T00:00:00Z")));
        RawNbdClient.OptReply r = info("root/host2");
        assertThat(r.type()).isEqualTo(NbdReplyType.ERR_UNKNOWN.code());
        assertThat(r.text()).contains("golden image was modified while served").doesNotContain(dir.toString());
        assertThat(info("root").type()).as("the golden image itself is still served")
                .isEqualTo(NbdReplyType.INFO.code());
    }

    @Test
    void aGoldenImagePutInPlaceByARenameLeavesTheServedOneInUse() throws Exception {
        Path next = dir.resolve("next.img");
        Files.write(next, new byte[1 << 20]);
        Files.move(next, golden, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        assertThat(info("root/host3").type()).isEqualTo(NbdReplyType.INFO.code());
    }
}
