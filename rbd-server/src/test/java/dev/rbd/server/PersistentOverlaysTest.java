package dev.rbd.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.rbd.protocol.NbdCommand;
import dev.rbd.protocol.NbdConstants;
import dev.rbd.protocol.NbdError;
import dev.rbd.protocol.NbdReplyType;
import dev.rbd.server.MetaContexts.Chunk;
import dev.rbd.server.MetaContexts.Extent;
import dev.rbd.server.RawNbdClient.OptReply;
import dev.rbd.server.RawNbdClient.Reply;
import dev.rbd.server.export.Export;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.security.MessageDigest;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;

/**
 * {@code overlays=DIR} through the server the command line builds: each {@code NAME/CLIENT} reads and writes its own
 * overlay, plain {@code NAME} is the golden image read-only, a damaged overlay is refused without revealing a path
 * while the others work, bad client names and allow rules are refused before any file is made, and block status
 * shows what a client wrote, trimmed and left to the golden image, across a restart. The golden image is never
 * written.
 */
class PersistentOverlaysTest {
    private static final FileTime OLD = FileTime.from(Instant.parse("2020-01-02T03:04:05Z"));
    /** 4 MiB, its first 1 MiB a hole (golden data 2, holes 0 for qemu:allocation-depth). */
    private static final int SIZE = 4 << 20;
    private static final int HOLE = 1 << 20;
    private static final String BASE = "base:allocation";
    private static final String DEPTH = "qemu:allocation-depth";

    @TempDir
    Path dir;

    private Path golden;
    private Path overlays;
    private Path lockedOverlays;
    private byte[] goldenBytes;
    private byte[] goldenDigest;
    private RbdServer server;
    private final Logger admissionLog = (Logger) LoggerFactory.getLogger("dev.rbd.server.handshake.Admission");
    private final ListAppender<ILoggingEvent> logged = new ListAppender<>();

    @BeforeEach
    void start() throws Exception {
        logged.list = new CopyOnWriteArrayList<>();
        logged.start();
        admissionLog.addAppender(logged);
        golden = dir.resolve("root.img");
        goldenBytes = new byte[SIZE];
        new Random(3).nextBytes(goldenBytes);
        Arrays.fill(goldenBytes, 0, HOLE, (byte) 0);
        try (FileChannel ch = FileChannel.open(golden, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(goldenBytes, HOLE, SIZE - HOLE), HOLE);   // the first MiB stays a hole
        }
        Files.setLastModifiedTime(golden, OLD);
        goldenDigest = sha256(golden);
        Files.write(dir.resolve("locked.img"), new byte[SIZE]);
        overlays = Files.createDirectories(dir.resolve("overlays"));
        lockedOverlays = Files.createDirectories(dir.resolve("locked-overlays"));
        server = startServer();
    }

    /** The server {@code rbd-server export} builds: root with overlays, locked with overlays and an allow rule. */
    private RbdServer startServer() throws Exception {
        CommandLine cl = RbdServerMain.commandLine();
        cl.parseArgs("export", "root=" + golden + ",overlays=" + overlays,
                "locked=" + dir.resolve("locked.img") + ",overlays=" + lockedOverlays + ",allow=cn:host-only");
        ExportCommand command = cl.getSubcommands().get("export").getCommand();
        List<Export> exports = command.exports(command.blockSizes());
        return TestServers.start(exports.toArray(new Export[0]));
    }

    @AfterEach
    void stopAndCheckTheGolden() throws Exception {
        admissionLog.detachAppender(logged);
        if (server != null) {
            server.close();
        }
        assertThat(sha256(golden)).as("the golden image is never written").isEqualTo(goldenDigest);
        assertThat(Files.getLastModifiedTime(golden)).isEqualTo(OLD);
    }

    private static byte[] sha256(Path p) throws Exception {
        return MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(p));
    }

    private static byte[] filled(int length, int value) {
        byte[] b = new byte[length];
        Arrays.fill(b, (byte) value);
        return b;
    }

    private static int error(RawNbdClient c, int type, long offset, int length, byte[] data) throws IOException {
        c.request(0, type, 1, offset, length, data);
        return c.readReply(0).error();
    }

    private static void write(RawNbdClient c, long offset, byte[] data) throws IOException {
        assertThat(error(c, NbdCommand.WRITE.code(), offset, data.length, data)).isZero();
    }

    private static byte[] read(RawNbdClient c, long offset, int length) throws IOException {
        c.request(0, NbdCommand.READ.code(), 2, offset, length, null);
        Reply r = c.readReply(length);
        assertThat(r.error()).isZero();
        return r.data();
    }

    private List<String> files(Path d) throws IOException {
        try (Stream<Path> s = Files.list(d)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    /**
     * Asks for {@code export} again until the log has a refusal line for it with all of {@code details}: refusals are
     * logged one a second and the rest counted in a line that starts the next second, so another test's refusal just
     * before may have taken this second; asking a little over two seconds apart gets a line of its own.
     */
    private void awaitLogged(String export, String... details) {
        await().atMost(Duration.ofSeconds(15)).pollDelay(Duration.ZERO).pollInterval(Duration.ofMillis(2100))
                .until(() -> refusalLogged(export, details));
    }

    private boolean refusalLogged(String export, String... details) throws IOException {
        if (logged.list.stream().map(ILoggingEvent::getFormattedMessage)
                .anyMatch(l -> l.contains(export) && Arrays.stream(details).allMatch(l::contains))) {
            return true;
        }
        try (RawNbdClient c = new RawNbdClient(server.port()).greet()) {
            assertThat(c.go(export).type()).isEqualTo(NbdReplyType.ERR_UNKNOWN.code());
        }
        return false;
    }

    private RawNbdClient open(String name) throws IOException {
        return new RawNbdClient(server.port()).open(name, false);
    }

    @Test
    void eachClientHasItsOwnOverlayAndPlainNameIsTheGoldenReadOnly() throws Exception {
        try (RawNbdClient a = open("root/host-a"); RawNbdClient b = open("root/host-b");
             RawNbdClient plain = open("root")) {
            for (RawNbdClient c : List.of(a, b)) {
                assertThat(c.size).isEqualTo(SIZE);
                assertThat(c.transmissionFlags & NbdConstants.FLAG_READ_ONLY).isZero();
                assertThat(c.transmissionFlags & NbdConstants.FLAG_CAN_MULTI_CONN)
                        .as("a client's connections share one overlay").isNotZero();
            }
            assertThat(plain.transmissionFlags & NbdConstants.FLAG_READ_ONLY).isNotZero();
            write(a, 2 * HOLE, filled(8192, 0xaa));
            write(a, 100, filled(10, 0x11));      // partial, in the golden's hole
            byte[] aView = goldenBytes.clone();
            System.arraycopy(filled(8192, 0xaa), 0, aView, 2 * HOLE, 8192);
            System.arraycopy(filled(10, 0x11), 0, aView, 100, 10);
            assertThat(read(a, 0, SIZE)).isEqualTo(aView);
            assertThat(read(b, 0, SIZE)).as("B sees none of A's writes").isEqualTo(goldenBytes);
            assertThat(read(plain, 0, SIZE)).as("plain NAME: the golden image").isEqualTo(goldenBytes);
            assertThat(error(plain, NbdCommand.WRITE.code(), 0, 4096, filled(4096, 1)))
                    .isEqualTo(NbdError.EPERM.code());

            // a second connection of A: the same overlay, each sees the other's writes
            try (RawNbdClient a2 = open("root/host-a")) {
                assertThat(read(a2, 0, SIZE)).isEqualTo(aView);
                write(a2, 3 * HOLE, filled(4096, 0xcc));
                assertThat(read(a, 3 * HOLE, 4096)).isEqualTo(filled(4096, 0xcc));
            }
        }
        // A wrote, so it has a journal; B only read
        assertThat(files(overlays)).containsExactly("host-a.journal", "host-a.map", "host-a.overlay", "host-b.map",
                "host-b.overlay");
    }

    @Test
    void aDamagedMapIsRefusedWithoutAPathAndOtherClientsWork() throws Exception {
        try (RawNbdClient a = open("root/host-a"); RawNbdClient b = open("root/host-b")) {
            write(a, 0, filled(4096, 1));
            write(b, 0, filled(4096, 2));
            a.request(0, NbdCommand.FLUSH.code(), 3, 0, 0, null);
            assertThat(a.readReply(0).error()).isZero();
        }
        server.close();    // closes every overlay
        // a state 3 for block 5: never written by rbd
        try (FileChannel ch = FileChannel.open(overlays.resolve("host-a.map"), StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(new byte[] {(byte) (3 << 2)}), 4096 + 1);
        }
        server = startServer();
        try (RawNbdClient a = new RawNbdClient(server.port()).greet()) {
            OptReply r = a.go("root/host-a");
            assertThat(r.type()).isEqualTo(NbdReplyType.ERR_UNKNOWN.code());
            assertThat(r.text()).contains("root/host-a").contains("damaged").doesNotContain(dir.toString())
                    .doesNotContain("host-a.map").doesNotContain(".overlay");
        }
        awaitLogged("root/host-a", "block map is corrupt", "block 5");
        try (RawNbdClient b = open("root/host-b"); RawNbdClient c = open("root/host-c")) {
            assertThat(read(b, 0, 4096)).as("other overlays keep working").isEqualTo(filled(4096, 2));
            write(c, 0, filled(4096, 3));
            assertThat(read(c, 0, 8192)).isEqualTo(
                    ByteBuffer.allocate(8192).put(filled(4096, 3)).put(goldenBytes, 4096, 4096).array());
        }
        assertThat(overlays.resolve("host-a.map")).as("the damaged overlay is left for the admin").exists();
    }

    @Test
    void anOverlayOverAChangedGoldenIsRefusedAndNewClientsGetTheNewGolden() throws Exception {
        try (RawNbdClient a = open("root/host-a")) {
            write(a, 0, filled(4096, 1));
        }
        server.close();
        Files.setLastModifiedTime(golden, FileTime.from(Instant.parse("2024-05-06T07:08:09Z")));
        try {
            server = startServer();
            try (RawNbdClient a = new RawNbdClient(server.port()).greet()) {
                OptReply r = a.go("root/host-a");
                assertThat(r.type()).isEqualTo(NbdReplyType.ERR_UNKNOWN.code());
                assertThat(r.text()).contains("golden image that has changed").contains("reset")
                        .doesNotContain(dir.toString());
            }
            awaitLogged("root/host-a", "modification time");
            try (RawNbdClient b = open("root/host-b")) {
                assertThat(read(b, 0, SIZE)).isEqualTo(goldenBytes);
            }
            assertThat(overlays.resolve("host-a.overlay")).as("kept until reset").exists();
        } finally {
            server.close();
            server = null;
            Files.setLastModifiedTime(golden, OLD);
        }
    }

    @Test
    void anUnusedOverlayIsClosedAndOneInUseStaysOpen() throws Exception {
        server.close();
        Export root = Export.builder("root", dev.rbd.server.store.FileBlockStore.open(golden, true))
                .persistentOverlays(overlays, golden, dev.rbd.server.store.GoldenFingerprint.of(golden))
                .overlayIdle(Duration.ofMillis(200)).build();
        server = TestServers.start(root);
        Path aData = overlays.resolve("host-a.overlay");
        try (RawNbdClient a = open("root/host-a")) {
            write(a, 0, filled(4096, 7));
            try (RawNbdClient b = open("root/host-b")) {
                write(b, 0, filled(4096, 8));
            }
            assertThat(root.openOverlays()).containsExactly("host-a", "host-b");
            // B's overlay closes once unused; A's, unused for longer than B's but connected, stays open
            await().atMost(Duration.ofSeconds(10)).until(() -> root.openOverlays().equals(List.of("host-a")));
            assertThat(dev.rbd.server.store.PersistentOverlay.inUse(overlays.resolve("host-b.overlay"))).isFalse();
            assertThat(dev.rbd.server.store.PersistentOverlay.inUse(aData)).isTrue();
            assertThat(read(a, 0, 4096)).isEqualTo(filled(4096, 7));
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> root.openOverlays().isEmpty());
        assertThat(dev.rbd.server.store.PersistentOverlay.inUse(aData)).as("closed: its lock released").isFalse();
        try (RawNbdClient a = open("root/host-a"); RawNbdClient b = open("root/host-b")) {
            assertThat(read(a, 0, 4096)).as("opened again").isEqualTo(filled(4096, 7));
            assertThat(read(b, 0, 4096)).isEqualTo(filled(4096, 8));
        }
    }

    @Test
    void clientNamesThatAreNotAllowedAreRefusedWithTheRule() throws Exception {
        for (String name : List.of("root/", "root/host 1", "root/a/b", "root/" + "x".repeat(65), "root/é")) {
            try (RawNbdClient c = new RawNbdClient(server.port()).greet()) {
                OptReply r = c.go(name);
                assertThat(r.type()).as(name).isEqualTo(NbdReplyType.ERR_UNKNOWN.code());
                assertThat(r.text()).as(name).contains("1 to 64 of A-Z a-z 0-9 . _ -");
            }
        }
        try (RawNbdClient c = open("root/" + "x".repeat(64))) {
            assertThat(c.size).isEqualTo(SIZE);
        }
        assertThat(files(overlays)).containsExactly("x".repeat(64) + ".map", "x".repeat(64) + ".overlay");
    }

    @Test
    void allowRulesRefuseAClientBeforeItsOverlayIsMade() throws Exception {
        for (String name : List.of("locked/host-only", "locked", "locked/bad name")) {
            try (RawNbdClient c = new RawNbdClient(server.port()).greet()) {
                OptReply r = c.go(name);
                assertThat(r.type()).as(name).isIn(NbdReplyType.ERR_POLICY.code(), NbdReplyType.ERR_UNKNOWN.code());
                assertThat(r.text()).as("the rule is not revealed").doesNotContain("cn:");
            }
        }
        assertThat(files(lockedOverlays)).as("a refused client made no file").isEmpty();
    }

    /** The BLOCK_STATUS chunks of {@code [offset, offset + length)}, by context id. */
    private static List<Chunk> blockStatus(RawNbdClient c, long offset, int length) throws IOException {
        c.request(0, NbdCommand.BLOCK_STATUS.code(), 9, offset, length, null);
        List<Chunk> chunks = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            Reply r = c.readReply(0);
            assertThat(r.type()).as("a BLOCK_STATUS chunk").isEqualTo(5);
            chunks.add(MetaContexts.chunk(r.data()));
        }
        chunks.sort((x, y) -> Integer.compare(x.id(), y.id()));
        return chunks;
    }

    /** Extents from {@code offset} up to {@code length}, merged where neighbours have the same flags. */
    private static List<Extent> merged(Chunk chunk) {
        List<Extent> out = new ArrayList<>();
        for (Extent e : chunk.extents()) {
            if (!out.isEmpty() && out.get(out.size() - 1).flags() == e.flags()) {
                Extent last = out.remove(out.size() - 1);
                out.add(new Extent(last.length() + e.length(), e.flags()));
            } else {
                out.add(e);
            }
        }
        return out;
    }

    private void assertStatus(RawNbdClient c, String when) throws IOException {
        // [0, 1M) golden hole: written 8 KiB at 64 KiB; [1M, 4M) golden data: trimmed 16 KiB at 2 MiB
        List<Chunk> chunks = blockStatus(c, 0, SIZE);
        List<Extent> base = merged(chunks.get(0));
        List<Extent> depth = merged(chunks.get(1));
        int holeZero = 3;
        assertThat(base).as(BASE + " " + when).containsExactly(
                new Extent(65536, holeZero), new Extent(8192, 0), new Extent(HOLE - 65536 - 8192, holeZero),
                new Extent(HOLE, 0), new Extent(16384, holeZero), new Extent(SIZE - 2 * HOLE - 16384, 0));
        assertThat(depth).as(DEPTH + " " + when).containsExactly(
                new Extent(65536, 0), new Extent(8192, 1), new Extent(HOLE - 65536 - 8192, 0),
                new Extent(HOLE, 2), new Extent(16384, 1), new Extent(SIZE - 2 * HOLE - 16384, 2));
    }

    private RawNbdClient statusOf(String name) throws IOException {
        return MetaContexts.open(server.port(), name, name, BASE, DEPTH);
    }

    @Test
    void blockStatusShowsWritesTrimsAndTheGoldenAcrossARestart() throws Exception {
        try (RawNbdClient c = open("root/host-a"); RawNbdClient status = statusOf("root/host-a")) {
            write(c, 65536, filled(8192, 0x5a));
            assertThat(error(c, NbdCommand.TRIM.code(), 2 * HOLE, 16384, null)).isZero();
            assertStatus(status, "after writes and a trim");
            assertThat(error(c, NbdCommand.FLUSH.code(), 0, 0, null)).isZero();
        }
        server.close();
        server = startServer();
        try (RawNbdClient status = statusOf("root/host-a")) {
            assertStatus(status, "after a restart");
        }
        try (RawNbdClient c = open("root/host-a")) {
            assertThat(read(c, 65536, 8192)).isEqualTo(filled(8192, 0x5a));
            assertThat(read(c, 2 * HOLE, 16384)).isEqualTo(new byte[16384]);
        }
        try (RawNbdClient status = statusOf("root/host-b")) {
            List<Chunk> chunks = blockStatus(status, 0, SIZE);
            assertThat(merged(chunks.get(1))).as("another client: all golden")
                    .containsExactly(new Extent(HOLE, 0), new Extent(SIZE - HOLE, 2));
        }
    }
}
