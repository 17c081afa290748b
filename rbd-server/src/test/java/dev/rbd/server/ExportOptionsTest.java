package dev.rbd.server;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rbd.protocol.NbdCommand;
import dev.rbd.protocol.NbdConstants;
import dev.rbd.protocol.NbdError;
import dev.rbd.protocol.NbdInfo;
import dev.rbd.protocol.NbdOption;
import dev.rbd.protocol.NbdReplyType;
import dev.rbd.protocol.RequiredTools;
import dev.rbd.server.RawNbdClient.OptReply;
import dev.rbd.server.RawNbdClient.Reply;
import dev.rbd.server.export.Export;
import java.io.ByteArrayInputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * Per-export options through the server the command line builds: {@code ro} on one export leaves the others
 * writable, {@code description=} (from the command line or {@code --config}) is what INFO, GO and LIST say, and
 * the default description tells nothing of the server's files.
 */
class ExportOptionsTest {
    private static final String USR_TEXT = "Shared /usr, release 2 \u00e9t\u00e9";

    @TempDir
    Path dir;

    private RbdServer server;

    @AfterEach
    void stop() {
        if (server != null) {
            server.close();
        }
    }

    /** Starts the exports {@code rbd-server export ARGS...} would serve, on a free loopback port. */
    private RbdServer start(String... args) throws Exception {
        CommandLine cl = RbdServerMain.commandLine();
        String[] all = new String[args.length + 1];
        all[0] = "export";
        System.arraycopy(args, 0, all, 1, args.length);
        cl.parseArgs(all);
        ExportCommand command = cl.getSubcommands().get("export").getCommand();
        List<Export> exports = command.exports(command.blockSizes());
        server = TestServers.start(exports.toArray(new Export[0]));
        return server;
    }

    /** usr: read-only with a description (command line); root: writable, default description; rel: from a file. */
    private RbdServer startRoom() throws Exception {
        Path config = Files.writeString(dir.resolve("exports.conf"), """
                [export rel]
                path = rel,v1.img
                ro = true
                description = From the file, with commas
                """);
        return start("usr=" + dir.resolve("usr.img") + ",ro,description=" + USR_TEXT.replace(",", ",,"),
                "root=" + dir.resolve("root.img"), "--config", config.toString(), "--create", "1M");
    }

    @Test
    void roMakesOneExportReadOnlyAndLeavesTheOthersWritable() throws Exception {
        startRoom();
        byte[] data = new byte[4096];
        Arrays.fill(data, (byte) 7);
        try (RawNbdClient c = new RawNbdClient(server.port()).open("usr", false)) {
            assertThat(c.transmissionFlags & NbdConstants.FLAG_READ_ONLY).isNotZero();
            assertThat(c.transmissionFlags & NbdConstants.FLAG_SEND_WRITE_ZEROES).isZero();
            c.request(0, NbdCommand.WRITE.code(), 1, 0, data.length, data);
            Reply r = c.readReply(0);
            assertThat(r.cookie()).isEqualTo(1);
            assertThat(r.error()).isEqualTo(NbdError.EPERM.code());
        }
        try (RawNbdClient c = new RawNbdClient(server.port()).open("rel", false)) {
            assertThat(c.transmissionFlags & NbdConstants.FLAG_READ_ONLY).as("ro = true in the file").isNotZero();
        }
        try (RawNbdClient c = new RawNbdClient(server.port()).open("root", false)) {
            assertThat(c.transmissionFlags & NbdConstants.FLAG_READ_ONLY).isZero();
            c.request(0, NbdCommand.WRITE.code(), 2, 0, data.length, data);
            assertThat(c.readReply(0).error()).isZero();
            c.request(0, NbdCommand.READ.code(), 3, 0, data.length, null);
            assertThat(c.readReply(data.length).data()).isEqualTo(data);
        }
        assertThat(Files.readAllBytes(dir.resolve("usr.img"))).as("the read-only image is untouched")
                .containsOnly((byte) 0);
        assertThat(Arrays.copyOf(Files.readAllBytes(dir.resolve("root.img")), data.length)).isEqualTo(data);
    }

    @Test
    void infoAndListSayTheDescriptionAndNeverTheImagePath() throws Exception {
        startRoom();
        Map<String, String> described = new LinkedHashMap<>();
        try (RawNbdClient c = new RawNbdClient(server.port()).greet()) {
            for (String name : List.of("usr", "root", "rel")) {
                described.put(name, infoDescription(c, name));
            }
            for (OptReply r : c.option(NbdOption.LIST.code(), new byte[0])) {
                if (r.type() == NbdReplyType.SERVER.code()) {
                    DataInputStream d = new DataInputStream(new ByteArrayInputStream(r.data()));
                    byte[] name = new byte[d.readInt()];
                    d.readFully(name);
                    String text = new String(d.readAllBytes(), StandardCharsets.UTF_8);
                    assertThat(text).as("LIST").isEqualTo(described.get(new String(name, StandardCharsets.UTF_8)));
                }
            }
        }
        assertThat(described).containsExactly(Map.entry("usr", USR_TEXT), Map.entry("root", "rbd export root, 1M"),
                Map.entry("rel", "From the file, with commas"));
        assertThat(String.join("\n", described.values())).doesNotContain(dir.toString(), ".img");
    }

    @Test
    void theDefaultDescriptionIsTheNameAndSize() {
        assertThat(ExportCommand.defaultDescription("root", 4L << 30, false)).isEqualTo("rbd export root, 4G");
        assertThat(ExportCommand.defaultDescription("usr", 64L << 20, true)).isEqualTo("rbd export usr, 64M, read-only");
        assertThat(ExportCommand.defaultDescription("odd", 1000, false)).isEqualTo("rbd export odd, 1000 bytes");
        assertThat(ExportCommand.defaultDescription("none", 0, false)).isEqualTo("rbd export none, 0 bytes");
    }

    @Test
    void readonlyStillMakesEveryExportReadOnly() throws Exception {
        start("a=" + dir.resolve("a.img"), "b=" + dir.resolve("b.img") + ",ro", "--readonly", "--create", "1M");
        for (String name : List.of("a", "b")) {
            try (RawNbdClient c = new RawNbdClient(server.port()).open(name, false)) {
                assertThat(c.transmissionFlags & NbdConstants.FLAG_READ_ONLY).as(name).isNotZero();
                assertThat(infoDescriptionAfterGo(name)).isEqualTo("rbd export " + name + ", 1M, read-only");
            }
        }
    }

    @Test
    void nbdinfoShowsTheDescription() throws Exception {
        RequiredTools.require("nbdinfo", "install libnbd-bin to check what nbdinfo shows of an export");
        startRoom();
        Process p = new ProcessBuilder("nbdinfo", "nbd://127.0.0.1:" + server.port() + "/usr")
                .redirectErrorStream(true).start();
        String out;
        try {
            out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(p.waitFor(60, TimeUnit.SECONDS)).as("nbdinfo ends").isTrue();
        } finally {
            p.destroyForcibly();
        }
        assertThat(p.exitValue()).as(out).isZero();
        assertThat(out).contains("description: " + USR_TEXT).contains("is_read_only: true");
        assertThat(out).doesNotContain(dir.toString());
    }

    private String infoDescriptionAfterGo(String name) throws IOException {
        try (RawNbdClient c = new RawNbdClient(server.port()).greet()) {
            return infoDescription(c, name);
        }
    }

    /** The INFO_DESCRIPTION of an INFO option that asks for it. */
    private static String infoDescription(RawNbdClient c, String name) throws IOException {
        List<OptReply> replies = c.option(NbdOption.INFO.code(), RawNbdClient.infoData(name,
                NbdInfo.DESCRIPTION.code()));
        assertThat(replies.get(replies.size() - 1).type()).as(name).isEqualTo(NbdReplyType.ACK.code());
        for (OptReply r : replies) {
            byte[] d = r.data();
            if (r.type() == NbdReplyType.INFO.code() && d.length >= 2
                    && ((d[0] & 0xff) << 8 | (d[1] & 0xff)) == NbdInfo.DESCRIPTION.code()) {
                return new String(d, 2, d.length - 2, StandardCharsets.UTF_8);
            }
        }
        throw new AssertionError("no INFO_DESCRIPTION for " + name);
    }
}
