package dev.rbd.cli.hostile;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rbd.protocol.NbdOption;
import dev.rbd.protocol.NbdReplyType;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 11, finding 7: an export name with a newline forged a log line, and error replies echoed client bytes raw.
 * Now the log shows such a name escaped, on one line, and no reply carries a control byte.
 */
class LogInjectionTest {
    private static final String FORGED = "12:00:00.000 [main] WARN  RbdServer - export 'disk' deleted by admin";
    /** A newline that would start a forged line, then ANSI escapes: clear the screen, red text. */
    private static final String EVIL = "evil\n" + FORGED + "\u001b[2J\u001b[31m\r\u0007";

    @TempDir
    Path dir;

    @Test
    void anExportNameWithControlCharactersForgesNoLogLineAndIsNotEchoedRaw() throws Exception {
        try (ServerUnderTest server = ServerUnderTest.export(dir, "server", "disk=" + dir.resolve("disk.img"),
                "--create", "16M").start()) {
            try (RawNbd c = new RawNbd(server.port(), "127.0.0.1")) {
                c.greet();
                RawNbd.OptReply go = c.go(EVIL);
                assertThat(go.type()).isEqualTo(NbdReplyType.ERR_UNKNOWN.code());
                assertNoControlBytes(go.data());
                assertThat(go.text()).contains("evil\\n12:00:00.000");

                RawNbd.OptReply info = c.option(NbdOption.INFO.code(), RawNbd.infoData(EVIL)).get(0);
                assertThat(info.type()).isEqualTo(NbdReplyType.ERR_UNKNOWN.code());
                assertNoControlBytes(info.data());

                RawNbd.OptReply session = c.session(UUID.randomUUID(), 0, 1, EVIL);
                assertThat(session.type()).isNegative();
                assertNoControlBytes(session.data());

                // an option the server does not know, its data full of control bytes
                RawNbd.OptReply unknown = c.option(0x4242, EVIL.getBytes(StandardCharsets.UTF_8)).get(0);
                assertThat(unknown.type()).isNegative();
                assertNoControlBytes(unknown.data());
            }
            try (RawNbd c = new RawNbd(server.port(), "127.0.0.1")) {
                c.greet();
                c.sendOption(NbdOption.EXPORT_NAME.code(), EVIL.getBytes(StandardCharsets.UTF_8));
                assertThat(c.closedByServer()).as("EXPORT_NAME of an unknown export closes").isTrue();
            }
            String log = server.log();
            assertThat(log).as("the refusal is logged, the name escaped").contains("evil\\n12:00:00.000");
            for (String line : log.split("\n", -1)) {
                assertThat(line).as("a log line").doesNotStartWith(FORGED.substring(0, 20));
            }
            assertThat(log).doesNotContain("\u001b").doesNotContain("\u0007").doesNotContain("\r");
            server.assertHealthy();
        }
    }

    private static void assertNoControlBytes(byte[] reply) {
        for (byte b : reply) {
            assertThat(b >= 0x20 && b != 0x7f || b < 0)
                    .as("reply text \"%s\" holds control byte 0x%02x", new String(reply, StandardCharsets.UTF_8), b)
                    .isTrue();
        }
    }
}
