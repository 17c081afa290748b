package dev.rbd.client;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.rbd.server.RbdServer;
import dev.rbd.server.export.Export;
import dev.rbd.server.export.ServerConfig;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Each fault of {@link FaultProxy} against plain sockets, then the real client reconnecting through it. */
class FaultProxyTest {
    private static final Duration WAIT = Duration.ofSeconds(5);

    /** The test plays the server: it accepts here and reads and writes the accepted sockets itself. */
    private ServerSocket upstream;
    private FaultProxy proxy;
    private final List<Socket> sockets = new ArrayList<>();

    /** A client socket through the proxy, the server socket it reached, and the link between them. */
    private record Ends(Socket client, Socket server, FaultProxy.Link link) {
    }

    @BeforeEach
    void start() throws IOException {
        upstream = new ServerSocket(0, 50, InetAddress.getByName("127.0.0.1"));
        upstream.setSoTimeout((int) WAIT.toMillis());
        proxy = FaultProxy.start(new InetSocketAddress("127.0.0.1", upstream.getLocalPort()));
    }

    @AfterEach
    void stop() throws IOException {
        proxy.close();
        proxy = null; // the leak check runs next: let what the proxy's loop referenced be garbage
        for (Socket s : sockets) {
            s.close();
        }
        upstream.close();
    }

    private Ends connect() throws IOException {
        int index = proxy.linkCount();
        Socket client = open(new Socket("127.0.0.1", proxy.port()));
        Socket server = open(upstream.accept()); // the proxy dials upstream as soon as it accepts
        return new Ends(client, server, proxy.link(index, WAIT));
    }

    private Socket open(Socket s) throws IOException {
        sockets.add(s);
        s.setTcpNoDelay(true);
        s.setSoTimeout((int) WAIT.toMillis());
        return s;
    }

    private static void send(Socket s, String text) throws IOException {
        s.getOutputStream().write(text.getBytes(US_ASCII));
        s.getOutputStream().flush();
    }

    private static String receive(Socket s, int n) throws IOException {
        byte[] b = s.getInputStream().readNBytes(n);
        assertThat(b).as("bytes before the end of the stream").hasSize(n);
        return new String(b, US_ASCII);
    }

    /** A bounded wait: nothing, not even an end of stream, arrives within 200 ms. */
    private static void assertNothingArrives(Socket s) throws IOException {
        s.setSoTimeout(200);
        try {
            assertThatThrownBy(() -> s.getInputStream().read()).isInstanceOf(SocketTimeoutException.class);
        } finally {
            s.setSoTimeout((int) WAIT.toMillis());
        }
    }

    private static void assertEndOfStream(Socket s) throws IOException {
        assertThat(s.getInputStream().read()).as("end of stream").isEqualTo(-1);
    }

    private static long millisSince(long nanos) {
        return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - nanos);
    }

    @Test
    void passesBytesAndClosesThroughInBothDirections() throws Exception {
        Ends e = connect();
        send(e.client(), "hello");
        assertThat(receive(e.server(), 5)).isEqualTo("hello");
        send(e.server(), "world!");
        assertThat(receive(e.client(), 6)).isEqualTo("world!");
        assertThat(e.link().bytesUp()).isEqualTo(5);
        assertThat(e.link().bytesDown()).isEqualTo(6);

        e.server().close();
        assertEndOfStream(e.client());
        e.link().upstreamClosed().get(5, TimeUnit.SECONDS);
        e.link().downstreamClosed().get(5, TimeUnit.SECONDS);

        Ends f = connect();
        f.client().close();
        assertEndOfStream(f.server());
        f.link().downstreamClosed().get(5, TimeUnit.SECONDS);
        f.link().upstreamClosed().get(5, TimeUnit.SECONDS);
    }

    @Test
    void delayedChunksArriveNoEarlierThanTheDelayAndInOrder() throws Exception {
        Ends e = connect();
        e.link().delay(Duration.ofMillis(300));
        long t0 = System.nanoTime();
        send(e.client(), "up");
        assertThat(receive(e.server(), 2)).isEqualTo("up");
        assertThat(millisSince(t0)).isGreaterThanOrEqualTo(300);

        t0 = System.nanoTime();
        send(e.server(), "down");
        assertThat(receive(e.client(), 4)).isEqualTo("down");
        assertThat(millisSince(t0)).isGreaterThanOrEqualTo(300);

        // a chunk read after the delay is lifted still waits for the one before it
        t0 = System.nanoTime();
        send(e.client(), "first");
        await().atMost(WAIT).until(() -> e.link().bytesWaitingUp() == 5);
        e.link().delay(Duration.ZERO);
        send(e.client(), "second");
        assertThat(receive(e.server(), 11)).isEqualTo("firstsecond");
        assertThat(millisSince(t0)).isGreaterThanOrEqualTo(300);
    }

    @Test
    void newLinksStartWithTheDefaultDelay() throws Exception {
        Ends before = connect();
        proxy.delayNewLinks(Duration.ofMillis(500));
        Ends after = connect();
        long t0 = System.nanoTime();
        send(after.client(), "late");
        send(before.client(), "soon");
        assertThat(receive(before.server(), 4)).isEqualTo("soon");
        assertThat(millisSince(t0)).as("a link accepted earlier keeps its own delay").isLessThan(500);
        assertThat(receive(after.server(), 4)).isEqualTo("late");
        assertThat(millisSince(t0)).isGreaterThanOrEqualTo(500);
    }

    @Test
    void aBlackholeForwardsNothingAndKeepsBothSocketsOpen() throws Exception {
        Ends e = connect();
        send(e.client(), "a");
        assertThat(receive(e.server(), 1)).isEqualTo("a");

        e.link().blackhole();
        send(e.client(), "lost");
        send(e.server(), "lost too");
        assertNothingArrives(e.server());
        assertNothingArrives(e.client());
        assertThat(e.link().bytesUp()).isEqualTo(1);
        assertThat(e.link().bytesDown()).isZero();
        assertThat(e.link().upstreamClosed()).isNotDone();
        assertThat(e.link().downstreamClosed()).isNotDone();
        send(e.client(), "still open");
    }

    @Test
    void heldBytesAreSentInOrderOnReleaseEvenAfterTheClientLeft() throws Exception {
        Ends e = connect();
        e.link().hold();
        send(e.client(), "one");
        send(e.client(), "two");
        send(e.server(), "dropped");
        assertNothingArrives(e.server());
        assertNothingArrives(e.client());
        await().atMost(WAIT).until(() -> e.link().bytesWaitingUp() == 6);

        e.client().close();
        e.link().downstreamClosed().get(5, TimeUnit.SECONDS);
        assertNothingArrives(e.server()); // no end of stream either: the upstream stays open
        assertThat(e.link().upstreamClosed()).isNotDone();

        e.link().release();
        assertThat(receive(e.server(), 6)).isEqualTo("onetwo");
        assertEndOfStream(e.server());
        e.link().upstreamClosed().get(5, TimeUnit.SECONDS);
        assertThat(e.link().bytesUp()).isEqualTo(6);
        assertThat(e.link().bytesWaitingUp()).isZero();
        assertThat(e.link().bytesDown()).isZero();
    }

    @Test
    void releasingWhileTheClientIsThereResumesPassThrough() throws Exception {
        Ends e = connect();
        e.link().hold();
        send(e.client(), "held");
        assertNothingArrives(e.server());
        e.link().release();
        assertThat(receive(e.server(), 4)).isEqualTo("held");
        send(e.client(), "+more");
        assertThat(receive(e.server(), 5)).isEqualTo("+more");
        send(e.server(), "reply");
        assertThat(receive(e.client(), 5)).isEqualTo("reply");
        assertThat(e.link().upstreamClosed()).isNotDone();
    }

    @Test
    void aCutForwardsExactlyNBytesThenClosesBothSides() throws Exception {
        Ends e = connect();
        e.link().cutAfter(10);
        send(e.client(), "abcd");
        assertThat(receive(e.server(), 4)).isEqualTo("abcd");
        send(e.client(), "efghijklmnopqrstuvwxyz"); // split: 6 bytes go, the rest is dropped
        assertThat(receive(e.server(), 6)).isEqualTo("efghij");
        assertEndOfStream(e.server());
        assertEndOfStream(e.client());
        e.link().upstreamClosed().get(5, TimeUnit.SECONDS);
        e.link().downstreamClosed().get(5, TimeUnit.SECONDS);
        assertThat(e.link().bytesUp()).isEqualTo(10);
    }

    @Test
    void aResetAbortsBothSidesWithARst() throws Exception {
        Ends e = connect();
        send(e.client(), "x");
        assertThat(receive(e.server(), 1)).isEqualTo("x");
        long t0 = System.nanoTime();
        e.link().reset();
        assertThatThrownBy(() -> e.client().getInputStream().read()).isInstanceOf(SocketException.class)
                .hasMessageContaining("reset");
        assertThatThrownBy(() -> e.server().getInputStream().read()).isInstanceOf(SocketException.class)
                .hasMessageContaining("reset");
        assertThat(millisSince(t0)).isLessThan(1000);
        e.link().upstreamClosed().get(5, TimeUnit.SECONDS);
        e.link().downstreamClosed().get(5, TimeUnit.SECONDS);
    }

    @Test
    void linksAreNumberedInAcceptOrderAndCanBeAwaited() throws Exception {
        Ends a = connect();
        Ends b = connect();
        assertThat(proxy.linkCount()).isEqualTo(2);
        send(b.client(), "b");
        assertThat(receive(b.server(), 1)).isEqualTo("b");
        assertThat(proxy.link(1, WAIT).bytesUp()).isEqualTo(1);
        assertThat(proxy.link(0, WAIT)).isSameAs(a.link()).extracting(FaultProxy.Link::bytesUp).isEqualTo(0L);
        assertThatThrownBy(() -> proxy.link(2, Duration.ofMillis(100))).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("no link 2");

        CompletableFuture<FaultProxy.Link> third = CompletableFuture.supplyAsync(() -> proxy.link(2, WAIT));
        Ends c = connect();
        assertThat(third.get(5, TimeUnit.SECONDS)).isSameAs(c.link());
    }

    @Test
    void closingTheProxyDropsWhatItsLinksHoldOrDelay() throws Exception {
        Ends e = connect();
        Ends f = connect();
        e.link().hold();
        send(e.client(), "held");
        f.link().delay(Duration.ofSeconds(30));
        send(f.client(), "delayed");
        await().atMost(WAIT).until(() -> e.link().bytesWaitingUp() == 4 && f.link().bytesWaitingUp() == 7);
        proxy.close(); // the leak check fails the test if the held or delayed buffers were not released
        assertEndOfStream(e.server());
        assertEndOfStream(f.server());
        assertEndOfStream(e.client());
        assertThatThrownBy(() -> proxy.link(2, WAIT)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("closed");
    }

    private static byte[] block(int i) {
        byte[] b = new byte[4096];
        new Random(i).nextBytes(b);
        return b;
    }

    @Test
    void theClientReconnectsThroughTheProxyWhenItsLinkIsReset() throws Exception {
        RbdServer server = new RbdServer(ServerConfig.defaults(List.of(new InetSocketAddress("127.0.0.1", 0))),
                List.of(Export.builder("disk", new ReconnectTest.DurableMemory()).description("d").build())).start();
        ClientOptions options = ClientOptions.builder().reconnectWait(Duration.ofSeconds(20))
                .backoff(Duration.ofMillis(20), Duration.ofMillis(200)).quiescence(Duration.ofMillis(50)).build();
        try (FaultProxy p = FaultProxy.start(new InetSocketAddress("127.0.0.1", server.port()));
             RbdClient c = RbdClient.connect(p.uri("disk"), options)) {
            FaultProxy.Link first = p.link(0, WAIT);
            c.write(0, block(-1)).get(10, TimeUnit.SECONDS);
            assertThat(c.read(0, 4096).get(10, TimeUnit.SECONDS)).isEqualTo(block(-1));

            List<CompletableFuture<Void>> writes = new ArrayList<>();
            for (int i = 0; i < 400; i++) {
                // 64 distinct blocks written over and over: the last write of each must win
                writes.add(c.write((i % 64) * 4096L, block(i)));
                if (i == 150) {
                    first.reset(); // the store takes 0-2 ms a write: requests are in flight
                }
            }
            CompletableFuture.allOf(writes.toArray(new CompletableFuture<?>[0])).get(30, TimeUnit.SECONDS);

            FaultProxy.Link second = p.link(1, WAIT);
            assertThat(first.downstreamClosed()).isDone();
            assertThat(c.reconnects()).isEqualTo(1);
            assertThat(c.replayed()).as("requests caught by the reset were sent again").isPositive();
            assertThat(second.bytesUp()).isPositive();
            for (int b = 0; b < 64; b++) {
                int last = b < 400 % 64 ? 384 + b : 320 + b; // the last i < 400 with i % 64 == b
                byte[] got = c.read(b * 4096L, 4096).get(10, TimeUnit.SECONDS);
                assertThat(Arrays.equals(got, block(last))).as("block %d holds write %d", b, last).isTrue();
            }
            assertThat(c.retainedBytes()).isZero();
            assertThat(p.linkCount()).as("no further reconnects").isEqualTo(2);
        } finally {
            server.close();
        }
    }
}
