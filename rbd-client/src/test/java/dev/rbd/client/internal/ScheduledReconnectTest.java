package dev.rbd.client.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.rbd.client.ExportChangedException;
import dev.rbd.client.ExportInfo;
import dev.rbd.client.RbdException;
import dev.rbd.client.TlsFailedException;
import io.netty.channel.embedded.EmbeddedChannel;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** One slot's reconnect as scheduled steps: backoff between failed dials, a new epoch each, and its three ends. */
class ScheduledReconnectTest {
    private static final ExportInfo INFO = info(1 << 20);
    private static final Policy POLICY = new Policy(Duration.ofSeconds(5), Duration.ofMillis(10),
            Duration.ofMillis(40), Duration.ofMillis(30), 1 << 20);

    private final ScheduledExecutorService scheduler = Executors.newSingleThreadScheduledExecutor();
    private final List<EmbeddedChannel> channels = new CopyOnWriteArrayList<>();

    /** Records what the reconnect asked of its session. */
    private static final class Recorder implements Reconnect.Target {
        final AtomicLong epoch = new AtomicLong(1);
        final List<Long> epochs = new CopyOnWriteArrayList<>();
        final AtomicReference<Established> resumed = new AtomicReference<>();
        final AtomicReference<RbdException> gaveUp = new AtomicReference<>();
        volatile boolean stopped;

        @Override
        public long nextEpoch(int slot) {
            if (stopped) {
                return -1;
            }
            long e = epoch.incrementAndGet();
            epochs.add(e);
            return e;
        }

        @Override
        public void resume(int slot, Established e) {
            resumed.set(e);
        }

        @Override
        public void giveUp(int slot, RbdException failure) {
            gaveUp.set(failure);
        }
    }

    private static ExportInfo info(long size) {
        return new ExportInfo("disk", "", size, 1, 1, 4096, 1 << 20, true, false, false, false, false);
    }

    private Established established(ExportInfo info) {
        EmbeddedChannel ch = new EmbeddedChannel();
        channels.add(ch);
        return new Established(new Connection(ch), info, 0);
    }

    @AfterEach
    void stop() {
        scheduler.shutdownNow();
        channels.forEach(EmbeddedChannel::finishAndReleaseAll);
    }

    @Test
    void failedDialsAreRetriedWithANewEpochEachUntilOneConnects() {
        Recorder target = new Recorder();
        AtomicInteger dials = new AtomicInteger();
        Established back = established(INFO);
        Reconnect r = new Reconnect(0, target, (slot, epoch) -> dials.incrementAndGet() < 4
                ? CompletableFuture.failedFuture(new RbdException("refused")) : CompletableFuture.completedFuture(back),
                scheduler, POLICY, INFO);
        r.next();
        await().atMost(Duration.ofSeconds(5)).until(() -> target.resumed.get() != null);
        assertThat(target.resumed.get()).isSameAs(back);
        assertThat(target.epochs).containsExactly(2L, 3L, 4L, 5L);
        assertThat(target.gaveUp.get()).isNull();
    }

    @Test
    void theReconnectWaitRunningOutGivesUpWithTheLastReason() {
        Recorder target = new Recorder();
        Policy brief = new Policy(Duration.ofMillis(100), Duration.ofMillis(10), Duration.ofMillis(20),
                Duration.ofMillis(30), 1 << 20);
        new Reconnect(0, target, (slot, epoch) -> CompletableFuture.failedFuture(new RbdException("refused")),
                scheduler, brief, INFO).next();
        await().atMost(Duration.ofSeconds(5)).until(() -> target.gaveUp.get() != null);
        assertThat(target.gaveUp.get()).hasMessage("server unreachable for 100 ms: refused");
        assertThat(target.epochs.size()).isGreaterThan(1);
        assertThat(target.resumed.get()).isNull();
    }

    @Test
    void aDialFailingInALaterStageGivesUpWithTheServersReasonNotTheWrapper() {
        Recorder target = new Recorder();
        Policy brief = new Policy(Duration.ofMillis(100), Duration.ofMillis(10), Duration.ofMillis(20),
                Duration.ofMillis(30), 1 << 20);
        // a dial is negotiation then more stages: their failure arrives wrapped in a CompletionException
        new Reconnect(0, target, (slot, epoch) -> CompletableFuture.<Established>failedFuture(
                new RbdException("refused")).thenCompose(CompletableFuture::completedFuture), scheduler, brief, INFO)
                .next();
        await().atMost(Duration.ofSeconds(5)).until(() -> target.gaveUp.get() != null);
        assertThat(target.gaveUp.get()).hasMessage("server unreachable for 100 ms: refused");
    }

    @Test
    void aTlsFailureGivesUpAtOnceWithItsReasonInsteadOfRetrying() {
        Recorder target = new Recorder();
        AtomicInteger dials = new AtomicInteger();
        TlsFailedException tls = new TlsFailedException("nbds://h:1/", "server does not support TLS (STARTTLS: "
                + "ERR_UNSUP)", null);
        // the reconnect wait (5 s) is far from over: only the failure's kind ends the attempts
        new Reconnect(0, target, (slot, epoch) -> {
            dials.incrementAndGet();
            return CompletableFuture.<Established>failedFuture(tls).thenCompose(CompletableFuture::completedFuture);
        }, scheduler, POLICY, INFO).next();
        await().atMost(Duration.ofSeconds(5)).until(() -> target.gaveUp.get() != null);
        assertThat(target.gaveUp.get()).isSameAs(tls);
        assertThat(dials).hasValue(1);
        assertThat(target.resumed.get()).isNull();
    }

    @Test
    void aConnectionThatEndedDuringTlsIsTriedAgain() {
        Recorder target = new Recorder();
        AtomicInteger dials = new AtomicInteger();
        Established back = established(INFO);
        new Reconnect(0, target, (slot, epoch) -> dials.incrementAndGet() < 3
                ? CompletableFuture.failedFuture(new TlsFailedException("nbds://h:1/", "TLS handshake failed: the "
                        + "server closed the connection", false, null))
                : CompletableFuture.completedFuture(back), scheduler, POLICY, INFO).next();
        await().atMost(Duration.ofSeconds(5)).until(() -> target.resumed.get() != null);
        assertThat(dials).hasValue(3);
        assertThat(target.gaveUp.get()).isNull();
    }

    @Test
    void anotherExportAfterTheReconnectGivesUpWithExportChanged() {
        Recorder target = new Recorder();
        Established other = established(info(2 << 20));
        new Reconnect(0, target, (slot, epoch) -> CompletableFuture.completedFuture(other), scheduler, POLICY, INFO)
                .next();
        await().atMost(Duration.ofSeconds(5)).until(() -> target.gaveUp.get() != null);
        assertThat(target.gaveUp.get()).isInstanceOf(ExportChangedException.class);
        assertThat(other.connection().channel().isOpen()).as("the connection to the other export is closed").isFalse();
        assertThat(target.resumed.get()).isNull();
    }

    @Test
    void aStoppedSessionEndsTheAttemptsWithoutGivingUp() {
        Recorder target = new Recorder();
        target.stopped = true;
        AtomicInteger dials = new AtomicInteger();
        new Reconnect(0, target, (slot, epoch) -> {
            dials.incrementAndGet();
            return new CompletableFuture<>();
        }, scheduler, POLICY, INFO).next();
        assertThat(dials).hasValue(0);
        assertThat(target.gaveUp.get()).isNull();
    }
}
