package dev.rbd.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.rbd.protocol.NbdCommand;
import dev.rbd.server.RawNbdClient.Reply;
import dev.rbd.server.export.Export;
import dev.rbd.server.export.ServerConfig;
import dev.rbd.server.store.FileBlockStore;
import dev.rbd.server.store.GoldenFingerprint;
import dev.rbd.server.store.OverlayBlockStore;
import dev.rbd.server.store.PersistentOverlay;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.RandomAccessFile;
import java.io.StringWriter;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code rbd-server overlays list|reset|commit} on overlays made through {@link PersistentOverlay#open}, offline and
 * beside a live server: what list shows, commit's image byte for byte and its holes, reset, refusals (in use, golden
 * changed, damaged, bad names) and exit codes.
 */
class OverlaysCommandTest {
    private static final int MIB = 1 << 20;
    private static final int SIZE = 8 * MIB;
    private static final FileTime OLD = FileTime.from(Instant.parse("2020-01-02T03:04:05Z"));
    /** Golden data: offset and length; the rest of the golden image is a hole. */
    private static final int[][] GOLDEN = {{MIB, 256 << 10}, {4 * MIB, 64 << 10}};

    @TempDir
    Path tmp;
    private Path golden;
    private Path overlays;
    private byte[] goldenBytes;
    private StringWriter out;
    private StringWriter err;

    @BeforeEach
    void goldenImage() throws IOException {
        golden = tmp.resolve("golden.img");
        overlays = Files.createDirectory(tmp.resolve("overlays"));
        Random random = new Random(7);
        try (RandomAccessFile f = new RandomAccessFile(golden.toFile(), "rw")) {
            f.setLength(SIZE);
            for (int[] d : GOLDEN) {
                byte[] b = new byte[d[1]];
                random.nextBytes(b);
                f.seek(d[0]);
                f.write(b);
            }
        }
        Files.setLastModifiedTime(golden, OLD);
        goldenBytes = Files.readAllBytes(golden);
    }

    private int run(String... args) {
        out = new StringWriter();
        err = new StringWriter();
        CommandLine cl = RbdServerMain.commandLine();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        return cl.execute(args);
    }

    private interface Writes {
        void apply(OverlayBlockStore store) throws IOException;
    }

    /** Opens (or makes) {@code client}'s overlay, applies {@code writes}, syncs and closes it. */
    private void overlay(String client, Writes writes) throws IOException {
        try (FileBlockStore g = FileBlockStore.open(golden, true);
             OverlayBlockStore o = PersistentOverlay.open(overlays, client, g, golden, GoldenFingerprint.of(golden))) {
            writes.apply(o);
            o.sync();
        }
    }

    /** What {@code client} reads of its whole export. */
    private byte[] view(String client) throws IOException {
        try (FileBlockStore g = FileBlockStore.open(golden, true);
             OverlayBlockStore o = PersistentOverlay.open(overlays, client, g, golden, GoldenFingerprint.of(golden))) {
            ByteBuf b = Unpooled.buffer(SIZE);
            try {
                o.read(0, b, SIZE);
                byte[] bytes = new byte[SIZE];
                b.getBytes(0, bytes);
                return bytes;
            } finally {
                b.release();
            }
        }
    }

    private static void write(OverlayBlockStore o, long offset, byte[] data) throws IOException {
        o.write(offset, Unpooled.wrappedBuffer(data));
    }

    private static byte[] filled(int length, int value) {
        byte[] b = new byte[length];
        Arrays.fill(b, (byte) value);
        return b;
    }

    /** The disk space {@code p} takes, as stat(1) reports it (Java 17 has no view of st_blocks). */
    private static long allocated(Path p) throws IOException, InterruptedException {
        Process stat = new ProcessBuilder("stat", "-c", "%b %B", p.toString()).redirectErrorStream(true).start();
        String text = new String(stat.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        assertThat(stat.waitFor()).as(text).isZero();
        String[] f = text.strip().split(" ");
        return Long.parseLong(f[0]) * Long.parseLong(f[1]);
    }

    private List<String> leftovers() throws IOException {
        try (Stream<Path> s = Files.list(tmp)) {
            return s.map(p -> p.getFileName().toString()).filter(n -> n.contains(".tmp-")).toList();
        }
    }

    @Test
    void listShowsEachClientWithWhatItWroteAndItsGolden() throws Exception {
        overlay("host1", o -> write(o, 2 * MIB, filled(3 * 4096, 0xab)));
        overlay("host2", o -> { });
        long before = System.currentTimeMillis();

        assertThat(run("overlays", "list", overlays.toString())).as(err.toString()).isZero();
        String[] lines = out.toString().split("\n");
        assertThat(lines[0]).matches("CLIENT +USED +BLOCKS +CREATED +LAST-OPENED +IN-USE +GOLDEN +GOLDEN-STATE");
        assertThat(lines).hasSize(3);
        assertThat(lines[1]).matches("host1 +[0-9.]+ MiB +3 +\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ +"
                + "\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ +no +" + java.util.regex.Pattern.quote(
                golden.toAbsolutePath().toString()) + " +ok");
        assertThat(lines[2]).startsWith("host2").contains(" 0 ").endsWith(" ok");

        assertThat(run("overlays", "list", overlays.toString(), "--json")).isZero();
        String json = out.toString().strip();
        assertThat(json).startsWith("{\"overlays\":[{\"client\":\"host1\",\"used\":")
                .contains("\"blocks\":3,").contains("\"in_use\":false").contains("\"golden_state\":\"ok\"")
                .contains("\"golden\":\"" + golden.toAbsolutePath() + "\"").contains("{\"client\":\"host2\"")
                .endsWith("}]}");
        String created = json.replaceAll(".*?\"created\":\"([^\"]+)\".*", "$1");
        assertThat(Instant.parse(created).toEpochMilli()).isBetween(before - 60_000, before + 1000);

        // the golden image replaced by another of the same size: changed; gone: missing
        byte[] other = goldenBytes.clone();
        other[0] ^= 1;
        Files.write(golden, other);
        assertThat(run("overlays", "list", overlays.toString())).isZero();
        assertThat(out.toString().split("\n")[1]).endsWith(" changed");
        Files.delete(golden);
        assertThat(run("overlays", "list", overlays.toString(), "--json")).isZero();
        assertThat(out.toString()).contains("\"golden_state\":\"missing\"").doesNotContain("\"ok\"");
    }

    @Test
    void anEmptyDirectoryListsNoRowAndAMissingOneFails() {
        assertThat(run("overlays", "list", overlays.toString())).isZero();
        assertThat(out.toString().strip().split("\n")).hasSize(1);
        assertThat(run("overlays", "list", overlays.toString(), "--json")).isZero();
        assertThat(out.toString().strip()).isEqualTo("{\"overlays\":[]}");
        assertThat(run("overlays", "list", tmp.resolve("nowhere").toString())).isEqualTo(1);
        assertThat(err.toString()).contains("nowhere: no such overlay directory");
    }

    @Test
    void commitWritesGoldenWithOverlayByteForByteKeepingHoles() throws Exception {
        overlay("host1", o -> {
            write(o, 2 * MIB, filled(64 << 10, 0x5a));                 // over a golden hole
            write(o, MIB + 10, filled(100, 0x11));                     // inside golden data, partial block
            o.writeZeroes(4 * MIB, 32 << 10, true, false);             // golden data zeroed
            o.trim(MIB + (128 << 10), 8192);                           // golden data trimmed
            write(o, 6 * MIB, new byte[8192]);                         // zeroes written: data, but all zero
            write(o, SIZE - 4096, filled(4096, 0x77));                 // the last block
        });
        byte[] expected = view("host1");
        assertThat(expected).isNotEqualTo(goldenBytes);
        Path next = tmp.resolve("golden-2.img");

        assertThat(run("overlays", "commit", overlays.toString(), "host1", next.toString())).as(err.toString())
                .isZero();
        assertThat(out.toString()).contains("committed the overlay of client 'host1'").contains("to " + next)
                .contains(": 8.0 MiB,");
        assertThat(Files.size(next)).isEqualTo(SIZE);
        assertThat(Files.readAllBytes(next)).isEqualTo(expected);
        // data: the golden's 320 KiB less what was zeroed and trimmed, plus 64 KiB and one block written
        long data = (256 << 10) + (64 << 10) - (32 << 10) - 8192 + (64 << 10) + 4096;
        assertThat(allocated(next)).as("holes stay holes").isLessThan(SIZE).isLessThanOrEqualTo(data + (64 << 10));
        assertThat(leftovers()).isEmpty();
        // the overlay and the golden image are as they were
        assertThat(view("host1")).isEqualTo(expected);
        assertThat(Files.readAllBytes(golden)).isEqualTo(goldenBytes);
        assertThat(Files.getLastModifiedTime(golden)).isEqualTo(OLD);

        // never over an existing image
        byte[] nextBytes = Files.readAllBytes(next);
        assertThat(run("overlays", "commit", overlays.toString(), "host1", next.toString())).isEqualTo(1);
        assertThat(err.toString()).contains("exists already");
        assertThat(Files.readAllBytes(next)).isEqualTo(nextBytes);
        assertThat(run("overlays", "commit", overlays.toString(), "host1", tmp.resolve("no/x.img").toString()))
                .isEqualTo(1);
        assertThat(err.toString()).contains("no such directory for the new image");
    }

    @Test
    void commitOfAnUntouchedOverlayIsTheGoldenWithItsHoles() throws Exception {
        overlay("fresh", o -> { });
        Path copy = tmp.resolve("copy.img");
        assertThat(run("overlays", "commit", overlays.toString(), "fresh", copy.toString())).isZero();
        assertThat(Files.readAllBytes(copy)).isEqualTo(goldenBytes);
        assertThat(allocated(copy)).isLessThanOrEqualTo((256 << 10) + (64 << 10) + (64 << 10));
    }

    @Test
    void resetDeletesTheOverlayAndTheNextOpenSeesTheGolden() throws Exception {
        overlay("host1", o -> write(o, 0, filled(SIZE, 0x42)));
        overlay("host2", o -> write(o, 0, filled(4096, 0x43)));
        assertThat(view("host1")).isEqualTo(filled(SIZE, 0x42));

        assertThat(run("overlays", "reset", overlays.toString(), "host1")).as(err.toString()).isZero();
        assertThat(out.toString()).contains("reset the overlay of client 'host1'");
        assertThat(overlays.resolve("host1.map")).doesNotExist();
        assertThat(overlays.resolve("host1.overlay")).doesNotExist();
        assertThat(run("overlays", "list", overlays.toString())).isZero();
        assertThat(out.toString()).doesNotContain("host1").contains("host2");
        assertThat(view("host1")).isEqualTo(goldenBytes);
        assertThat(view("host2")).startsWith(filled(4096, 0x43));

        assertThat(run("overlays", "reset", overlays.toString(), "nobody")).isEqualTo(1);
        assertThat(err.toString()).contains("no overlay of client 'nobody'");
        assertThat(run("overlays", "commit", overlays.toString(), "nobody", tmp.resolve("n.img").toString()))
                .isEqualTo(1);
        assertThat(err.toString()).contains("no overlay of client 'nobody'");
        assertThat(tmp.resolve("n.img")).doesNotExist();
    }

    @Test
    void commitIsRefusedOnceTheGoldenChangedAndWritesNothing() throws Exception {
        overlay("host1", o -> write(o, 0, filled(4096, 1)));
        Path next = tmp.resolve("next.img");
        // modified in place
        try (RandomAccessFile f = new RandomAccessFile(golden.toFile(), "rw")) {
            f.seek(3 * MIB);
            f.write(9);
        }
        assertThat(run("overlays", "commit", overlays.toString(), "host1", next.toString())).isEqualTo(1);
        assertThat(err.toString()).contains("overlay of client 'host1' was made over the golden image")
                .contains("changed since").contains("Nothing was written");
        assertThat(next).doesNotExist();
        assertThat(leftovers()).isEmpty();
        assertThat(run("overlays", "list", overlays.toString())).isZero();
        assertThat(out.toString().split("\n")[1]).endsWith(" changed");
        // a reset is what is left, and works
        assertThat(run("overlays", "reset", overlays.toString(), "host1")).isZero();
    }

    @Test
    void aDamagedMapIsListedAsDamagedAndOthersStillShow() throws Exception {
        overlay("bad", o -> write(o, 0, filled(4096, 1)));
        overlay("good", o -> write(o, 0, filled(4096, 2)));
        try (RandomAccessFile f = new RandomAccessFile(overlays.resolve("bad.map").toFile(), "rw")) {
            f.seek(100);
            f.write(new byte[] {1, 2, 3});
            f.seek(2048 + 100);
            f.write(new byte[] {1, 2, 3});
        }
        overlay("nodata", o -> { });
        Files.delete(overlays.resolve("nodata.overlay"));
        overlay("cut", o -> { });
        try (RandomAccessFile f = new RandomAccessFile(overlays.resolve("cut.map").toFile(), "rw")) {
            f.setLength(5000);
        }

        assertThat(run("overlays", "list", overlays.toString())).as(err.toString()).isZero();
        String[] lines = out.toString().split("\n");
        assertThat(lines).hasSize(5);
        assertThat(lines[1]).matches("bad +damaged: overlay of client 'bad': no valid header \\(header checksum "
                + "mismatch\\)");
        assertThat(lines[2]).matches("cut +damaged: .*cut.map is 5000 bytes, not \\d+");
        assertThat(lines[3]).startsWith("good").endsWith(" ok");
        assertThat(lines[4]).matches("nodata +damaged: .*nodata.map is there but nodata.overlay, the data it maps, "
                + "is missing");
        assertThat(run("overlays", "list", overlays.toString(), "--json")).isZero();
        assertThat(out.toString()).contains("{\"client\":\"bad\",\"damaged\":\"overlay of client 'bad': no valid "
                + "header (header checksum mismatch)\"}").contains("\"client\":\"good\",\"used\":");

        assertThat(run("overlays", "commit", overlays.toString(), "bad", tmp.resolve("b.img").toString()))
                .isEqualTo(1);
        assertThat(err.toString()).contains("no valid header");
        assertThat(tmp.resolve("b.img")).doesNotExist();
        assertThat(run("overlays", "commit", overlays.toString(), "nodata", tmp.resolve("n.img").toString()))
                .isEqualTo(1);
        assertThat(err.toString()).contains("the data it maps, is missing");
        // a damaged overlay can be reset
        for (String client : List.of("bad", "nodata", "cut")) {
            assertThat(run("overlays", "reset", overlays.toString(), client)).as(err.toString()).isZero();
            assertThat(overlays.resolve(client + ".map")).doesNotExist();
        }
        assertThat(run("overlays", "list", overlays.toString())).isZero();
        assertThat(out.toString()).doesNotContain("damaged");
    }

    @Test
    void badClientNamesAreUsageErrors() {
        for (String name : List.of("", "../golden", "a/b", "h\u00e9", "x".repeat(65), "a b")) {
            assertThat(run("overlays", "reset", overlays.toString(), name)).as(name).isEqualTo(2);
            assertThat(err.toString()).as(name).contains("not a client name").contains("1 to 64 of");
            assertThat(run("overlays", "commit", overlays.toString(), name, tmp.resolve("x.img").toString()))
                    .as(name).isEqualTo(2);
        }
        assertThat(run("overlays", "reset", overlays.toString(), "a\nb")).isEqualTo(2);
        assertThat(err.toString()).contains("'a\\nb'").doesNotContain("a\nb");
    }

    @Test
    void usageErrorsExitTwo() {
        assertThat(run("overlays")).isEqualTo(2);
        assertThat(err.toString()).contains("missing command (list, reset, commit)");
        assertThat(run("overlays", "list")).isEqualTo(2);
        assertThat(err.toString()).contains("DIR");
        assertThat(run("overlays", "reset", overlays.toString())).isEqualTo(2);
        assertThat(run("overlays", "commit", overlays.toString(), "host1")).isEqualTo(2);
        assertThat(run("overlays", "commit", overlays.toString(), "host1", "a.img", "b.img")).isEqualTo(2);
        assertThat(run("overlays", "list", overlays.toString(), "--jsn")).isEqualTo(2);
        assertThat(run("overlays", "prune", overlays.toString())).isEqualTo(2);
        assertThat(run("overlays", "--help")).isZero();
        assertThat(out.toString()).contains("list").contains("reset").contains("commit");
    }

    @Test
    void overlayIdleIsNeverShorterThanTheHandshakeTimeoutAndASecond() {
        CommandLine cl = RbdServerMain.commandLine();
        cl.parseArgs("export", golden.toString());
        ExportCommand e = cl.getSubcommands().get("export").getCommand();
        assertThat(e.overlayIdle()).isEqualTo(Duration.ofSeconds(30));
        cl = RbdServerMain.commandLine();
        cl.parseArgs("export", golden.toString(), "--overlay-idle", "5m", "--handshake-timeout", "20");
        assertThat(((ExportCommand) cl.getSubcommands().get("export").getCommand()).overlayIdle())
                .isEqualTo(Duration.ofMinutes(5));
        cl = RbdServerMain.commandLine();
        cl.parseArgs("export", golden.toString(), "--overlay-idle", "0", "--handshake-timeout", "3");
        assertThat(((ExportCommand) cl.getSubcommands().get("export").getCommand()).overlayIdle())
                .isEqualTo(Duration.ofSeconds(4));
        assertThat(run("export", golden.toString(), "--overlay-idle", "soon")).isEqualTo(2);
        assertThat(err.toString()).contains("not a duration");
    }

    @Test
    void anOverlayInUseIsRefusedAndAllowedOnceTheServerClosedIt() throws Exception {
        CommandLine cl = RbdServerMain.commandLine();
        cl.parseArgs("export", "root=" + golden + ",overlays=" + overlays, "--overlay-idle", "1s",
                "--handshake-timeout", "1", "--session-grace", "0");
        ExportCommand command = cl.getSubcommands().get("export").getCommand();
        List<Export> exports = command.exports(command.blockSizes());
        Export root = exports.get(0);
        try (RbdServer server = TestServers.start(ServerConfig.defaults(List.of(new InetSocketAddress("127.0.0.1",
                0))).withHandshakeTimeout(Duration.ofSeconds(1)), exports.toArray(new Export[0]))) {
            try (RawNbdClient c = new RawNbdClient(server.port()).open("root/host1", false)) {
                c.request(0, NbdCommand.WRITE.code(), 1, 0, 4096, filled(4096, 0x3c));
                Reply r = c.readReply(0);
                assertThat(r.error()).isZero();

                assertThat(run("overlays", "list", overlays.toString(), "--json")).isZero();
                assertThat(out.toString()).contains("\"client\":\"host1\"").contains("\"in_use\":true");
                assertThat(run("overlays", "reset", overlays.toString(), "host1")).isEqualTo(1);
                assertThat(err.toString()).contains("in use");
                assertThat(run("overlays", "commit", overlays.toString(), "host1", tmp.resolve("c.img").toString()))
                        .isEqualTo(1);
                assertThat(err.toString()).contains("in use");
                assertThat(tmp.resolve("c.img")).doesNotExist();
                assertThat(root.openOverlays()).containsExactly("host1");
                c.request(0, NbdCommand.DISC.code(), 2, 0, 0, null);
            }
            // the server closes it once unused for --overlay-idle
            await().atMost(Duration.ofSeconds(30)).until(() -> root.openOverlays().isEmpty());
            assertThat(run("overlays", "list", overlays.toString(), "--json")).isZero();
            assertThat(out.toString()).contains("\"in_use\":false").contains("\"blocks\":1,");
            assertThat(run("overlays", "reset", overlays.toString(), "host1")).as(err.toString()).isZero();
            // the next client starts from the golden image
            try (RawNbdClient c = new RawNbdClient(server.port()).open("root/host1", false)) {
                c.request(0, NbdCommand.READ.code(), 1, 0, 4096, null);
                assertThat(c.readReply(4096).data()).isEqualTo(Arrays.copyOf(goldenBytes, 4096));
            }
        }
        assertThat(Files.readAllBytes(golden)).isEqualTo(goldenBytes);
    }
}
