package dev.rbd.server;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rbd.protocol.NbdOption;
import dev.rbd.protocol.NbdReplyType;
import dev.rbd.server.export.AccessRules;
import dev.rbd.server.export.Export;
import dev.rbd.server.store.FileBlockStore;
import dev.rbd.server.store.GoldenFingerprint;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code clients=cn}: a connection opens {@code NAME/CLIENT} of an export with persistent overlays only when its
 * verified TLS identity is CLIENT; the refusal is ERR_POLICY, and nothing is made in the overlay directory for it.
 * Without {@code clients=cn}, any connection the export's rules let in opens any client's overlay.
 */
class OverlayClientIdentityTest {
    @TempDir
    Path dir;

    private Path overlays;
    private RbdServer server;

    @BeforeEach
    void start() throws Exception {
        Path golden = dir.resolve("golden.img");
        FileBlockStore.createSparse(golden, 1 << 20);
        overlays = Files.createDirectory(dir.resolve("overlays"));
        Path open = Files.createDirectory(dir.resolve("open"));
        Path golden2 = dir.resolve("golden2.img");
        FileBlockStore.createSparse(golden2, 1 << 20);
        Export root = Export.builder("root", FileBlockStore.open(golden, true))
                .persistentOverlays(overlays, golden, GoldenFingerprint.of(golden)).clientsByIdentity(true).build();
        Export lab = Export.builder("lab", FileBlockStore.open(golden2, true))
                .persistentOverlays(open, golden2, GoldenFingerprint.of(golden2)).access(AccessRules.of(List.of(
                        AccessRules.parseForExport("127.0.0.2")))).build();
        server = TestServers.start(root, lab);
    }

    @AfterEach
    void stop() {
        if (server != null) {
            server.close();
        }
    }

    private RawNbdClient connect(String from, String identity) throws IOException {
        RawNbdClient c = new RawNbdClient(server.port(), from).greet();
        if (identity != null) {
            TestServers.serverSide(server, c).identity(identity);
        }
        return c;
    }

    private List<String> files(Path d) throws IOException {
        try (Stream<Path> s = Files.list(d)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void aClientOpensOnlyTheOverlayItsCertificateNames() throws Exception {
        try (RawNbdClient host42 = connect("127.0.0.1", "host42")) {
            RawNbdClient.OptReply other = host42.option(NbdOption.INFO.code(), RawNbdClient.infoData("root/host43"))
                    .get(0);
            assertThat(other.type()).isEqualTo(NbdReplyType.ERR_POLICY.code());
            assertThat(other.text()).contains("only for the client whose TLS certificate names 'host43'");
            assertThat(files(overlays)).as("a refused client makes no overlay").isEmpty();
            assertThat(host42.option(NbdOption.INFO.code(), RawNbdClient.infoData("root/Host42")).get(0).type())
                    .as("names are matched exactly").isEqualTo(NbdReplyType.ERR_POLICY.code());
            assertThat(host42.go("root/host42").type()).isEqualTo(NbdReplyType.ACK.code());
            assertThat(host42.size).isEqualTo(1 << 20);
        }
        assertThat(files(overlays)).containsExactly("host42.map", "host42.overlay");
    }

    @Test
    void withoutAnIdentityNoOverlayOpensButTheGoldenImageDoes() throws Exception {
        try (RawNbdClient anon = connect("127.0.0.1", null)) {
            assertThat(anon.option(NbdOption.GO.code(), RawNbdClient.infoData("root/host42")).get(0).type())
                    .isEqualTo(NbdReplyType.ERR_POLICY.code());
            assertThat(anon.go("root").type()).as("the golden image, read-only").isEqualTo(NbdReplyType.ACK.code());
        }
        assertThat(files(overlays)).isEmpty();
    }

    @Test
    void theExportsAllowRulesComeBeforeAnyOverlayIsMade() throws Exception {
        try (RawNbdClient stranger = connect("127.0.0.1", null)) {
            assertThat(stranger.option(NbdOption.INFO.code(), RawNbdClient.infoData("lab/pc1")).get(0).type())
                    .isEqualTo(NbdReplyType.ERR_POLICY.code());
        }
        assertThat(files(dir.resolve("open"))).isEmpty();
        try (RawNbdClient member = connect("127.0.0.2", null)) {
            assertThat(member.option(NbdOption.INFO.code(), RawNbdClient.infoData("lab/pc1")).get(0).type())
                    .as("without clients=cn, any allowed peer opens any client's overlay")
                    .isEqualTo(NbdReplyType.INFO.code());
        }
        assertThat(files(dir.resolve("open"))).containsExactly("pc1.map", "pc1.overlay");
    }
}
