package dev.rbd.server;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rbd.protocol.NbdCommand;
import dev.rbd.server.export.Export;
import dev.rbd.server.export.ServerConfig;
import dev.rbd.server.store.BlockStore;
import dev.rbd.server.store.MemoryBlockStore;
import dev.rbd.server.store.RecordingStore;
import io.netty.buffer.ByteBuf;
import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ShutdownTest {
    @TempDir
    Path dir;

    @Test
    void closeLetsInFlightWritesFinishThenSyncsAndClosesExports() throws Exception {
        CountDownLatch writing = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        RecordingStore store = new RecordingStore(new MemoryBlockStore(1 << 20)) {
            @Override
            public void write(long offset, ByteBuf src) throws IOException {
                writing.countDown();
                try {
                    release.await(10, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    throw new IOException(e);
                }
                super.write(offset, src);
            }
        };
        Export export = TestServers.export("disk", store, false);
        RbdServer server = TestServers.start(export);
        try (RawNbdClient c = new RawNbdClient(server.port()).open("disk", false)) {
            c.request(0, NbdCommand.WRITE.code(), 1, 0, 4, new byte[] {1, 2, 3, 4});
            assertThat(writing.await(5, TimeUnit.SECONDS)).isTrue();
            CompletableFuture<Void> closing = CompletableFuture.runAsync(server::close);
            // new connections are no longer accepted while the write is held
            release.countDown();
            RawNbdClient.Reply r = c.readReply(0);
            assertThat(r.error()).isZero();
            closing.get(30, TimeUnit.SECONDS);
            assertThat(c.closedByServer()).isTrue();
        }
        assertThat(store.events()).extracting(RecordingStore.Event::kind).endsWith(RecordingStore.Kind.SYNC_START,
                RecordingStore.Kind.SYNC_END);
    }

    @Test
    void servesOverAUnixSocket() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(RbdServer.nativeTransport(),
                "SKIP: Unix sockets need the native epoll transport");
        Path sock = dir.resolve("rbd.sock");
        BlockStore store = new MemoryBlockStore(1 << 20);
        RbdServer server = TestServers.start(ServerConfig.defaults(java.util.List.of()).withUnixSocket(sock),
                TestServers.export("disk", store, false));
        try (java.nio.channels.SocketChannel ch = java.nio.channels.SocketChannel.open(
                java.net.UnixDomainSocketAddress.of(sock))) {
            java.nio.ByteBuffer greeting = java.nio.ByteBuffer.allocate(18);
            while (greeting.hasRemaining()) {
                assertThat(ch.read(greeting)).isNotNegative();
            }
            assertThat(greeting.getLong(0)).isEqualTo(dev.rbd.protocol.NbdConstants.NBDMAGIC);
        } finally {
            server.close();
        }
        assertThat(sock).doesNotExist();
    }

    @Test
    void listensOnIpv6Loopback() throws Exception {
        java.net.InetAddress v6 = java.net.InetAddress.getByName("::1");
        org.junit.jupiter.api.Assumptions.assumeTrue(java.net.NetworkInterface.getByInetAddress(v6) != null,
                "SKIP: no IPv6 loopback on this machine");
        RbdServer server = TestServers.start(ServerConfig.defaults(java.util.List.of(
                new java.net.InetSocketAddress(v6, 0))), TestServers.export("disk", new MemoryBlockStore(4096), false));
        try (java.net.Socket s = new java.net.Socket(v6, ((java.net.InetSocketAddress) server.boundAddresses().get(0))
                .getPort())) {
            assertThat(new java.io.DataInputStream(s.getInputStream()).readLong())
                    .isEqualTo(dev.rbd.protocol.NbdConstants.NBDMAGIC);
        } finally {
            server.close();
        }
    }
}
