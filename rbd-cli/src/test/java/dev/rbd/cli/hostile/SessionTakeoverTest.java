package dev.rbd.cli.hostile;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rbd.protocol.NbdCommand;
import dev.rbd.protocol.NbdReplyType;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 11, finding 2: the refusal a plain client got named the writer's session id, and the session option with
 * that id and a higher epoch fenced the writer. Now nothing names the id, and a session option with a guessed id
 * and the highest epoch fences no one.
 */
class SessionTakeoverTest {
    private static final Pattern UUID_TEXT = Pattern.compile(
            "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}");

    @TempDir
    Path dir;

    @Test
    void aStrangerLearnsNoSessionIdAndCannotFenceTheWriter() throws Exception {
        UUID victimSession = UUID.randomUUID();
        try (ServerUnderTest server = ServerUnderTest.export(dir, "server", "disk=" + dir.resolve("disk.img"),
                "--create", "16M").start();
             RawNbd victim = new RawNbd(server.port(), "127.0.0.1")) {
            victim.greet();
            assertThat(victim.session(victimSession, 0, 1, "disk").type()).isEqualTo(NbdReplyType.ACK.code());
            assertThat(victim.go("disk").type()).isEqualTo(NbdReplyType.ACK.code());
            writeAndReadBack(victim, 1, (byte) 1);

            // a plain client elsewhere is refused; whatever id its refusal shows, it tries, with random ones
            String refusal;
            try (RawNbd plain = new RawNbd(server.port(), "127.0.0.2")) {
                plain.greet();
                RawNbd.OptReply refused = plain.go("disk");
                assertThat(refused.type()).isEqualTo(NbdReplyType.ERR_POLICY.code());
                refusal = refused.text();
            }
            List<UUID> guesses = new ArrayList<>();
            UUID_TEXT.matcher(refusal).results().forEach(m -> guesses.add(UUID.fromString(m.group())));
            guesses.add(UUID.randomUUID());
            guesses.add(UUID.randomUUID());

            // forged session options, from another address and from the victim's own, with the highest epochs
            for (UUID guess : guesses) {
                for (String from : new String[] {"127.0.0.2", "127.0.0.1"}) {
                    for (long epoch : new long[] {2, Long.MAX_VALUE, -1L}) {
                        try (RawNbd attacker = new RawNbd(server.port(), from)) {
                            attacker.greet();
                            RawNbd.OptReply s = attacker.session(guess, 0, epoch, "disk");
                            assertThat(s.text()).doesNotContainPattern(UUID_TEXT);
                            if (s.type() == NbdReplyType.ACK.code()) {
                                RawNbd.OptReply go = attacker.go("disk");
                                assertThat(go.type()).as("GO after a forged session from %s", from)
                                        .isNotEqualTo(NbdReplyType.ACK.code());
                                assertThat(go.text()).doesNotContainPattern(UUID_TEXT);
                            }
                        }
                        writeAndReadBack(victim, epoch, (byte) epoch);
                    }
                }
            }
            assertThat(refusal).as("the refusal a plain client gets").isNotEmpty().doesNotContainPattern(UUID_TEXT)
                    .doesNotContainIgnoringCase(hex(victimSession));
            String log = server.log();
            assertThat(log).doesNotContain(victimSession.toString()).doesNotContainIgnoringCase(hex(victimSession));
            Matcher opened = Pattern.compile("\\[(\\d+)\\] opened peer=/127\\.0\\.0\\.1:"
                    + victim.socket.getLocalPort() + " ").matcher(log);
            assertThat(opened.find()).as("the victim's connection in the log").isTrue();
            assertThat(log).as("the victim's connection [%s] is never fenced", opened.group(1))
                    .doesNotContain("fencing connection [" + opened.group(1) + "]")
                    .doesNotContain("[" + opened.group(1) + "] fenced");
            server.assertHealthy();
        }
    }

    /** The victim's connection still works: a WRITE is acknowledged and READ returns it. */
    private static void writeAndReadBack(RawNbd c, long cookie, byte value) throws Exception {
        byte[] data = new byte[4096];
        java.util.Arrays.fill(data, value);
        c.request(0, NbdCommand.WRITE.code(), cookie, 0, data.length, data);
        RawNbd.Reply w = c.readReply(0);
        assertThat(w.cookie()).isEqualTo(cookie);
        assertThat(w.error()).as("the victim's write").isZero();
        c.request(0, NbdCommand.READ.code(), cookie + 1, 0, data.length, null);
        RawNbd.Reply r = c.readReply(data.length);
        assertThat(r.error()).isZero();
        assertThat(r.data()).isEqualTo(data);
    }

    private static String hex(UUID id) {
        return HexFormat.of().toHexDigits(id.getMostSignificantBits())
                + HexFormat.of().toHexDigits(id.getLeastSignificantBits());
    }
}
