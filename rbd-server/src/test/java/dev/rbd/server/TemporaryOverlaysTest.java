package dev.rbd.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.rbd.protocol.NbdCommand;
import dev.rbd.protocol.NbdConstants;
import dev.rbd.protocol.NbdOption;
import dev.rbd.protocol.NbdReplyType;
import dev.rbd.server.RawNbdClient.OptReply;
import dev.rbd.server.RawNbdClient.Reply;
import dev.rbd.server.export.Export;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code overlays=temp} through the server the command line builds: every connection writes to its own overlay,
 * which is gone when it disconnects; the golden image is never written; clients open NAME or NAME/CLIENT.
 */
class TemporaryOverlaysTest {
    private static final FileTime OLD = FileTime.from(Instant.parse("2020-01-02T03:04:05Z"));
    private static final int SIZE = 1 << 20;

    @TempDir
    Path dir;

    private RbdServer server;
    private Path golden;
    private byte[] goldenBytes;

    @BeforeEach
    void start() throws Exception {
        // overlays count across the JVM: those of an earlier test's connections may still be closing
        await().atMost(Duration.ofSeconds(10)).until(() -> openOverlays() == 0);
        golden = dir.resolve("kiosk.img");
        goldenBytes = new byte[SIZE];
        new Random(1).nextBytes(goldenBytes);
        Files.write(golden, goldenBytes);
        Files.setLastModifiedTime(golden, OLD);
        CommandLine cl = RbdServerMain.commandLine();
        cl.parseArgs("export", "kiosk=" + golden + ",overlays=temp", "plain=" + dir.resolve("plain.img"),
                "--create", "1M");
        ExportCommand command = cl.getSubcommands().get("export").getCommand();
        List<Export> exports = command.exports(command.blockSizes());
        server = TestServers.start(exports.toArray(new Export[0]));
    }

    @AfterEach
    void stopAndCheckTheGolden() throws Exception {
        if (server != null) {
            server.close();
        }
        assertThat(Files.readAllBytes(golden)).as("the golden image is never written").isEqualTo(goldenBytes);
        assertThat(Files.getLastModifiedTime(golden)).isEqualTo(OLD);
    }

    private static byte[] filled(int length, int value) {
        byte[] b = new byte[length];
        Arrays.fill(b, (byte) value);
        return b;
    }

    private static void write(RawNbdClient c, long cookie, long offset, byte[] data) throws IOException {
        c.request(0, NbdCommand.WRITE.code(), cookie, offset, data.length, data);
        Reply r = c.readReply(0);
        assertThat(r.cookie()).isEqualTo(cookie);
        assertThat(r.error()).isZero();
    }

    private static byte[] read(RawNbdClient c, long cookie, long offset, int length) throws IOException {
        c.request(0, NbdCommand.READ.code(), cookie, offset, length, null);
        Reply r = c.readReply(length);
        assertThat(r.cookie()).isEqualTo(cookie);
        assertThat(r.error()).isZero();
        return r.data();
    }

    /** Deleted overlay files this process holds open: one per open temporary overlay (each has two descriptors). */
    private static long openOverlays() throws IOException {
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.map(fd -> {
                try {
                    return Files.readSymbolicLink(fd).toString();
                } catch (IOException e) {
                    return "";    // closed meanwhile
                }
            }).filter(target -> target.contains("rbd-overlay-") && target.endsWith("(deleted)")).distinct().count();
        }
    }

    @Test
    void twoClientsWriteTheSameOffsetAndEachReadsItsOwn() throws Exception {
        try (RawNbdClient a = new RawNbdClient(server.port()).open("kiosk", false);
             RawNbdClient b = new RawNbdClient(server.port()).open("kiosk/host-42.lab_1", false)) {
            for (RawNbdClient c : List.of(a, b)) {
                assertThat(c.size).isEqualTo(SIZE);
                assertThat(c.transmissionFlags & NbdConstants.FLAG_READ_ONLY).isZero();
                assertThat(c.transmissionFlags & NbdConstants.FLAG_SEND_TRIM).isNotZero();
                assertThat(c.transmissionFlags & NbdConstants.FLAG_SEND_WRITE_ZEROES).isNotZero();
                assertThat(c.transmissionFlags & NbdConstants.FLAG_CAN_MULTI_CONN)
                        .as("each connection sees its own data").isZero();
            }
            write(a, 1, 4096, filled(4096, 0xaa));
            write(b, 1, 4096, filled(4096, 0xbb));
            write(a, 2, 100_001, filled(10, 0x11));          // unaligned, inside a golden block
            write(b, 2, 100_005, filled(10, 0x22));
            assertThat(read(a, 3, 4096, 4096)).isEqualTo(filled(4096, 0xaa));
            assertThat(read(b, 3, 4096, 4096)).isEqualTo(filled(4096, 0xbb));
            byte[] aView = goldenBytes.clone();
            System.arraycopy(filled(4096, 0xaa), 0, aView, 4096, 4096);
            System.arraycopy(filled(10, 0x11), 0, aView, 100_001, 10);
            assertThat(read(a, 4, 0, SIZE)).isEqualTo(aView);
            byte[] bView = goldenBytes.clone();
            System.arraycopy(filled(4096, 0xbb), 0, bView, 4096, 4096);
            System.arraycopy(filled(10, 0x22), 0, bView, 100_005, 10);
            assertThat(read(b, 4, 0, SIZE)).isEqualTo(bView);
            // write-zeroes and trim land in the overlay too
            a.request(0, NbdCommand.WRITE_ZEROES.code(), 5, 8192, 8192, null);
            assertThat(a.readReply(0).error()).isZero();
            a.request(0, NbdCommand.TRIM.code(), 6, 16384 + 10, 100, null);
            assertThat(a.readReply(0).error()).isZero();
            assertThat(read(a, 7, 8192, 8192)).isEqualTo(new byte[8192]);
            assertThat(read(a, 8, 16384 + 10, 100)).isEqualTo(new byte[100]);
            assertThat(read(b, 5, 8192, 8192)).isEqualTo(Arrays.copyOfRange(goldenBytes, 8192, 16384));
            a.request(0, NbdCommand.FLUSH.code(), 9, 0, 0, null);
            assertThat(a.readReply(0).error()).isZero();
            assertThat(openOverlays()).isEqualTo(2);
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> openOverlays() == 0);
    }

    @Test
    void aNewConnectionSeesTheGoldenAgain() throws Exception {
        try (RawNbdClient a = new RawNbdClient(server.port()).open("kiosk/host1", false)) {
            write(a, 1, 0, filled(SIZE, 0x5a));
            assertThat(read(a, 2, 0, 4096)).isEqualTo(filled(4096, 0x5a));
        }
        for (String name : List.of("kiosk/host1", "kiosk")) {
            try (RawNbdClient a = new RawNbdClient(server.port()).open(name, false)) {
                assertThat(read(a, 1, 0, SIZE)).as(name).isEqualTo(goldenBytes);
            }
        }
    }

    @Test
    void aClientNameThatIsNotAllowedIsRefusedSayingWhy() throws Exception {
        String tooLong = "kiosk/" + "x".repeat(65);
        for (String name : List.of("kiosk/", "kiosk/a b", "kiosk/host/1", "kiosk/h\u00e9", tooLong)) {
            try (RawNbdClient c = new RawNbdClient(server.port()).greet()) {
                OptReply r = c.go(name);
                assertThat(r.type()).as(name).isEqualTo(NbdReplyType.ERR_UNKNOWN.code());
                assertThat(r.text()).as(name).contains("the client name after 'kiosk/' must be 1 to 64 of");
                // the handshake goes on: the plain name still opens
                assertThat(c.go("kiosk").type()).isEqualTo(NbdReplyType.ACK.code());
            }
        }
        // the GOs of the plain name above each opened an overlay, closed on an I/O thread after their connection
        await().atMost(Duration.ofSeconds(10)).until(() -> openOverlays() == 0);
        try (RawNbdClient c = new RawNbdClient(server.port()).greet()) {
            OptReply r = c.go("plain/host1");
            assertThat(r.type()).as("an export without overlays").isEqualTo(NbdReplyType.ERR_UNKNOWN.code());
            assertThat(r.text()).isEqualTo("unknown export 'plain/host1'");
            List<OptReply> info = c.option(NbdOption.INFO.code(), RawNbdClient.infoData("kiosk/host1"));
            assertThat(info.get(info.size() - 1).type()).isEqualTo(NbdReplyType.ACK.code());
            // asked while the connection is open, so an overlay made by INFO or a refusal could not have closed yet
            assertThat(openOverlays()).as("INFO and refusals make no overlay").isZero();
        }
    }
}
