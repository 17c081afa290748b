package dev.rbd.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.rbd.server.export.Limits;
import io.netty.channel.embedded.EmbeddedChannel;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/** The counting itself: verdicts, release on close, and refusals logged once a second per reason. */
class ConnectionCountsTest {
    private final Logger logger = (Logger) LoggerFactory.getLogger(ConnectionCounts.class);
    private final ListAppender<ILoggingEvent> logged = new ListAppender<>();
    private final List<EmbeddedChannel> channels = new ArrayList<>();

    @BeforeEach
    void capture() {
        logged.list = new CopyOnWriteArrayList<>();
        logged.start();
        logger.addAppender(logged);
    }

    @AfterEach
    void release() {
        logger.detachAppender(logged);
        for (EmbeddedChannel ch : channels) {
            ch.finishAndReleaseAll();
        }
    }

    private EmbeddedChannel channel() {
        EmbeddedChannel ch = new EmbeddedChannel();
        channels.add(ch);
        return ch;
    }

    /** This test's lines (a summary of an earlier test's refusals may still arrive). */
    private List<String> lines(String marker) {
        return logged.list.stream().map(ILoggingEvent::getFormattedMessage).filter(l -> l.contains(marker)).toList();
    }

    @Test
    void refusalsAreLoggedOnceASecondWithTheRestCounted() {
        ConnectionCounts counts = new ConnectionCounts(Limits.DEFAULT.withMaxConnections(5, 5));
        for (int i = 0; i < 5; i++) {
            assertThat(counts.admit(channel(), "10.0.0.1", "/10.0.0.1:1").admitted()).isTrue();
        }
        for (int i = 0; i < 10; i++) {
            ConnectionCounts.Verdict v = counts.admit(channel(), "10.0.0.2", "/10.0.0.2:1\nFORGED line " + i);
            assertThat(v.admitted()).isFalse();
            assertThat(v.closeNow()).isFalse();
            assertThat(v.refusal()).isEqualTo("rbd-server is at its limit of 5 connections");
        }
        String marker = "limit of 5 connections";
        assertThat(lines(marker)).containsExactly(
                "connection from /10.0.0.2:1\\nFORGED line 0 refused: rbd-server is at its limit of 5 connections");
        await().atMost(Duration.ofSeconds(10)).until(() -> lines(marker).size() == 2);
        assertThat(lines(marker).get(1))
                .isEqualTo("9 more connection(s) in the last second refused: rbd-server is at its limit of 5 connections");
        assertThat(counts.refusing()).isEqualTo(10);
    }

    @Test
    void countsGoWithTheChannels() {
        ConnectionCounts counts = new ConnectionCounts(Limits.DEFAULT.withMaxConnections(3, 2));
        EmbeddedChannel a = channel();
        EmbeddedChannel b = channel();
        assertThat(counts.admit(a, "10.0.0.1", "a").admitted()).isTrue();
        assertThat(counts.admit(b, "10.0.0.1", "b").admitted()).isTrue();
        EmbeddedChannel c = channel();
        assertThat(counts.admit(c, "10.0.0.1", "c").refusal())
                .isEqualTo("rbd-server is at its limit of 2 connections from one address");
        assertThat(counts.admit(channel(), null, "unix").admitted()).isTrue(); // a Unix peer: no per-address count
        assertThat(counts.open()).isEqualTo(3);
        assertThat(counts.openFrom("10.0.0.1")).isEqualTo(2);
        assertThat(counts.refusing()).isEqualTo(1);
        a.close();
        c.close();
        assertThat(counts.open()).isEqualTo(2);
        assertThat(counts.openFrom("10.0.0.1")).isEqualTo(1);
        assertThat(counts.refusing()).isZero();
        assertThat(counts.admit(channel(), "10.0.0.1", "d").admitted()).isTrue();
    }

    @Test
    void pastSixtyFourRefusedOneIsClosedAtOnceAndNotCounted() {
        ConnectionCounts counts = new ConnectionCounts(Limits.DEFAULT.withMaxConnections(1, 1));
        counts.admit(channel(), "10.0.0.1", "a");
        for (int i = 0; i < ConnectionCounts.MAX_REFUSING; i++) {
            assertThat(counts.admit(channel(), "10.0.0.2", "r").closeNow()).isFalse();
        }
        EmbeddedChannel dropped = channel();
        assertThat(counts.admit(dropped, "10.0.0.3", "x").closeNow()).isTrue();
        dropped.close();
        assertThat(counts.refusing()).isEqualTo(ConnectionCounts.MAX_REFUSING);
        assertThat(counts.open()).isEqualTo(1);
    }
}
