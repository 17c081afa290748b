package dev.rbd.server.handshake;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.rbd.protocol.NbdOption;
import dev.rbd.protocol.NbdReplyType;
import dev.rbd.server.RawNbdClient;
import dev.rbd.server.RbdServer;
import dev.rbd.server.TestServers;
import dev.rbd.server.export.AccessRules;
import dev.rbd.server.export.Export;
import dev.rbd.server.store.MemoryBlockStore;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/**
 * A request for an export its rules refuse is one log line naming the peer (its identity made printable), and
 * refusals past one a second are counted in one line.
 */
class ExportRefusalLogTest {
    private final List<Logger> loggers = List.of((Logger) LoggerFactory.getLogger(Admission.class),
            (Logger) LoggerFactory.getLogger(HandshakeHandler.class));
    private final ListAppender<ILoggingEvent> logged = new ListAppender<>();
    private RbdServer server;

    @BeforeEach
    void start() throws Exception {
        logged.list = new CopyOnWriteArrayList<>();
        logged.start();
        loggers.forEach(l -> l.addAppender(logged));
        Export lab = Export.builder("lab", new MemoryBlockStore(1 << 20))
                .access(AccessRules.of(List.of(AccessRules.parseForExport("cn:host42")))).build();
        server = TestServers.start(lab);
    }

    @AfterEach
    void stop() {
        loggers.forEach(l -> l.detachAppender(logged));
        server.close();
    }

    private List<String> lines(String marker) {
        return logged.list.stream().map(ILoggingEvent::getFormattedMessage).filter(l -> l.contains(marker)).toList();
    }

    private RawNbdClient connect(String identity) throws IOException {
        RawNbdClient c = new RawNbdClient(server.port(), "127.0.0.1").greet();
        if (identity != null) {
            TestServers.serverSide(server, c).identity(identity);
        }
        return c;
    }

    private static void awaitQuiet() {
        await().atMost(Duration.ofSeconds(10)).until(Admission.NOT_ALLOWED::quiet);
    }

    @Test
    void aRefusedGoIsOneLineWithThePrintableIdentity() throws Exception {
        awaitQuiet();
        try (RawNbdClient c = connect("evil\n12:00:00.000 INFO forged")) {
            assertThat(c.go("lab").type()).isEqualTo(NbdReplyType.ERR_POLICY.code());
            assertThat(lines("'lab'")).hasSize(1).first().asString()
                    .contains("cn:evil\\n12:00:00.000 INFO forged at /127.0.0.1:", "GO for export 'lab' refused")
                    .doesNotContain("\n");
        }
    }

    @Test
    void aRefusedExportNameIsOneLineToo() throws Exception {
        awaitQuiet();
        try (RawNbdClient c = connect(null)) {
            c.sendOption(NbdOption.EXPORT_NAME.code(), "lab".getBytes(StandardCharsets.UTF_8));
            assertThat(c.closedByServer()).isTrue();
        }
        assertThat(lines("lab")).hasSize(1).first().asString().contains("/127.0.0.1:", "EXPORT_NAME",
                "not allowed");
    }

    @Test
    void refusalsPastOneASecondAreCounted() throws Exception {
        awaitQuiet();
        try (RawNbdClient c = connect("host43")) {
            for (int i = 0; i < 6; i++) {
                assertThat(c.option(NbdOption.INFO.code(), RawNbdClient.infoData("lab")).get(0).type())
                        .isEqualTo(NbdReplyType.ERR_POLICY.code());
            }
        }
        assertThat(lines("'lab'")).hasSize(1);
        await().atMost(Duration.ofSeconds(10)).until(() -> !lines("5 more request(s)").isEmpty());
        assertThat(lines("5 more request(s)")).containsExactly(
                "5 more request(s) for an export refused by its allow rules in the last second");
    }
}
