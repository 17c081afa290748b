package dev.rbd.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.rbd.protocol.NbdCommand;
import dev.rbd.protocol.NbdOption;
import dev.rbd.protocol.NbdReplyType;
import dev.rbd.protocol.tls.TestPki;
import dev.rbd.server.export.Limits;
import dev.rbd.server.export.ServerConfig;
import dev.rbd.server.export.TlsConfig;
import dev.rbd.server.store.MemoryBlockStore;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * The transmission phase through the TLS layer: streamed reads and writes larger than one part, replies a client
 * does not read (backpressure, then the stall timeout), the idle timeout, and the handshake timeout around the TLS
 * handshake.
 */
class TlsTransmissionTest {
    private static final int MIB = 1 << 20;

    @TempDir
    static Path dir;
    static Path pki;

    private final Logger tlsLog = (Logger) LoggerFactory.getLogger("dev.rbd.server.handshake.StartTls");
    private final ListAppender<ILoggingEvent> logged = new ListAppender<>();
    private RbdServer server;

    @BeforeAll
    static void makePki() throws Exception {
        pki = TestPki.make(dir.resolve("pki"), null);
    }

    @AfterEach
    void stop() {
        if (server != null) {
            server.close();
        }
        tlsLog.detachAppender(logged);
    }

    private int start(Limits limits, Duration handshakeTimeout) throws Exception {
        server = TestServers.start(ServerConfig.defaults(List.of(new InetSocketAddress("127.0.0.1", 0)))
                .withHandshakeTimeout(handshakeTimeout).withLimits(limits)
                .withTls(new TlsConfig(TlsConfig.Mode.REQUIRE, pki, false)),
                TestServers.flushExport("disk", new MemoryBlockStore(16 * MIB)));
        return server.port();
    }

    private RawNbdClient open(int port) throws Exception {
        RawNbdClient t = TlsClients.startTls(new RawNbdClient(port).greet(), pki);
        assertThat(t.go("disk").type()).isEqualTo(NbdReplyType.ACK.code());
        return t;
    }

    private static byte[] pattern(int length) {
        byte[] b = new byte[length];
        new Random(length).nextBytes(b);
        return b;
    }

    @Test
    void streamsLargeWritesAndReadsThroughTls() throws Exception {
        int port = start(Limits.DEFAULT, Duration.ofSeconds(10));
        byte[] data = pattern(6 * MIB); // three parts of a streamed write, and of a streamed read
        try (RawNbdClient t = open(port)) {
            t.request(0, NbdCommand.WRITE.code(), 1, MIB, data.length, data);
            assertThat(t.readReply(0).error()).isZero();
            t.request(0, NbdCommand.READ.code(), 2, MIB, data.length, null);
            RawNbdClient.Reply r = t.readReply(data.length);
            assertThat(r.cookie()).isEqualTo(2);
            assertThat(r.data()).isEqualTo(data);
        }
    }

    @Test
    void repliesPipelinedBeyondTheInFlightLimitAllArriveWhenTheClientReads() throws Exception {
        int port = start(Limits.DEFAULT, Duration.ofSeconds(10));
        byte[] data = pattern(4 * MIB);
        try (RawNbdClient t = open(port)) {
            t.request(0, NbdCommand.WRITE.code(), 1, 0, data.length, data);
            assertThat(t.readReply(0).error()).isZero();
            int n = 24; // 96 MiB of replies against 64 MiB in flight: reading pauses until the client reads
            for (int i = 0; i < n; i++) {
                t.request(0, NbdCommand.READ.code(), 100 + i, 0, data.length, null);
            }
            for (int i = 0; i < n; i++) {
                RawNbdClient.Reply r = t.readReply(data.length);
                assertThat(r.error()).isZero();
                assertThat(r.data()).as("reply %d", i).isEqualTo(data);
            }
        }
    }

    @Test
    void aClientThatStopsReadingItsRepliesIsClosedByTheStallTimeout() throws Exception {
        int port = start(Limits.DEFAULT.withTimeouts(Duration.ZERO, Duration.ofSeconds(1)), Duration.ofSeconds(10));
        try (RawNbdClient t = open(port)) {
            for (int i = 0; i < 16; i++) {
                t.request(0, NbdCommand.READ.code(), i, 0, 8 * MIB, null);
            }
            // never read: the replies pile up in the TLS layer and the socket until the stall timeout closes it
            await().atMost(Duration.ofSeconds(30)).until(() -> server.context().channels().isEmpty());
        }
    }

    @Test
    void anIdleTlsConnectionIsClosedByTheIdleTimeout() throws Exception {
        int port = start(Limits.DEFAULT.withTimeouts(Duration.ofSeconds(1), Duration.ZERO), Duration.ofSeconds(10));
        try (RawNbdClient t = open(port)) {
            assertThat(t.closedByServer()).isTrue();
        }
    }

    @Test
    void theHandshakeTimeoutCoversTheTlsHandshake() throws Exception {
        int port = start(Limits.DEFAULT, Duration.ofSeconds(1));
        try (RawNbdClient c = new RawNbdClient(port).greet()) {
            assertThat(c.option(NbdOption.STARTTLS.code(), new byte[0]).get(0).type())
                    .isEqualTo(NbdReplyType.ACK.code());
            // no ClientHello follows
            assertThat(c.closedByServer()).isTrue();
        }
    }

    @Test
    void plaintextAfterStartTlsFailsTheHandshakeInOneLine() throws Exception {
        int port = start(Limits.DEFAULT, Duration.ofSeconds(10));
        logged.start();
        tlsLog.addAppender(logged);
        try (RawNbdClient c = new RawNbdClient(port).greet()) {
            assertThat(c.option(NbdOption.STARTTLS.code(), new byte[0]).get(0).type())
                    .isEqualTo(NbdReplyType.ACK.code());
            c.sendOption(NbdOption.LIST.code(), new byte[0]); // as if TLS had not been asked for
            assertThat(c.closedByServer()).isTrue();
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> !logged.list.isEmpty());
        assertThat(logged.list).hasSize(1);
        assertThat(logged.list.get(0).getLevel()).isEqualTo(Level.WARN);
        assertThat(logged.list.get(0).getFormattedMessage()).contains(": TLS handshake failed: not TLS");
    }
}
