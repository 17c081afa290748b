package dev.rbd.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.rbd.client.FakeServer.Request;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * A scripted server misbehaves in every way the client must survive: the client fails the requests concerned
 * promptly, with the right exception type, exactly once, and leaks nothing (the leak check runs after each test).
 * Reconnecting is off so the failure itself is observable.
 */
class ProtocolViolationTest {
    private static final ClientOptions NO_RECONNECT = ClientOptions.builder().reconnectWait(Duration.ZERO).build();

    @Test
    void repliesInAnyOrderAreMatchedByCookie() throws Exception {
        try (FakeServer s = new FakeServer(1 << 20, c -> {
            Request a = c.read();
            Request b = c.read();
            c.offsetData(b.cookie(), b.offset(), new byte[] {2, 2}, true);
            c.simple(a.cookie(), 0, null);
            c.read(); // hold the connection until the client disconnects
        }); RbdClient client = RbdClient.connect(s.uri(), NO_RECONNECT)) {
            CompletableFuture<Void> w = client.write(0, new byte[] {1});
            CompletableFuture<byte[]> r = client.read(100, 2);
            assertThat(r.get(5, TimeUnit.SECONDS)).containsExactly(2, 2);
            w.get(5, TimeUnit.SECONDS);
        }
    }

    @Test
    void aReplyForAnUnknownCookieEndsTheConnectionAndFailsWhatWasPending() throws Exception {
        assertViolation(c -> {
            c.read();
            c.read();
            c.simple(0xdeadbeefL, 0, null);
            c.in.read();
        });
    }

    @Test
    void aDuplicateReplyIsAnUnknownCookie() throws Exception {
        AtomicInteger completions = new AtomicInteger();
        try (FakeServer s = new FakeServer(1 << 20, c -> {
            Request a = c.read();
            Request b = c.read();
            c.simple(a.cookie(), 0, null);
            c.simple(a.cookie(), 0, null); // again
            c.in.read();
        }); RbdClient client = RbdClient.connect(s.uri(), NO_RECONNECT)) {
            CompletableFuture<Void> first = client.write(0, new byte[] {1});
            CompletableFuture<Void> second = client.write(4096, new byte[] {1});
            first.whenComplete((v, e) -> completions.incrementAndGet());
            first.get(5, TimeUnit.SECONDS);
            assertThatThrownBy(() -> second.get(5, TimeUnit.SECONDS)).cause()
                    .isInstanceOf(OutcomeUnknownException.class).hasMessageContaining("unknown cookie");
            assertThat(completions.get()).isEqualTo(1);
        }
    }

    @Test
    void garbageEndsTheConnection() throws Exception {
        assertViolation(c -> {
            c.read();
            c.read();
            c.out.write(new byte[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16});
            c.out.flush();
            c.in.read();
        });
    }

    @Test
    void aCutInTheMiddleOfAHeaderOrAPayloadFailsPromptly() throws Exception {
        assertViolation(c -> {
            c.read();
            c.read();
            c.out.writeInt(0x67446698);
            c.out.writeShort(0); // half a simple reply, then the connection ends
            c.out.flush();
        });
        assertViolation(c -> {
            c.read();
            Request r = c.read();
            c.chunkHeader(r.cookie(), 1, 1, 8 + 4096);
            c.out.writeLong(r.offset());
            c.out.write(new byte[100]); // 100 of 4096 data bytes, then the connection ends
            c.out.flush();
        });
    }

    @Test
    void dataOutsideTheRequestedRangeIsAProtocolError() throws Exception {
        assertViolation(c -> {
            c.read();
            Request r = c.read();
            c.offsetData(r.cookie(), r.offset() + 4096, new byte[16], true);
            c.in.read();
        });
    }

    /** Sends a write then a 4 KiB read; the script misbehaves; both must fail promptly and typed. */
    private static void assertViolation(FakeServer.Script script) throws Exception {
        try (FakeServer s = new FakeServer(1 << 20, script);
             RbdClient client = RbdClient.connect(s.uri(), NO_RECONNECT)) {
            CompletableFuture<Void> w = client.write(0, new byte[512]);
            CompletableFuture<byte[]> r = client.read(8192, 4096);
            assertThatThrownBy(() -> w.get(5, TimeUnit.SECONDS)).cause()
                    .isInstanceOf(OutcomeUnknownException.class);
            assertThatThrownBy(() -> r.get(5, TimeUnit.SECONDS)).cause().isInstanceOf(RbdException.class)
                    .isNotInstanceOf(OutcomeUnknownException.class);
            assertThat(client.retainedBytes()).isZero();
        }
    }
}
