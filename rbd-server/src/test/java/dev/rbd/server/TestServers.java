package dev.rbd.server;

import dev.rbd.server.export.Connection;
import dev.rbd.server.export.Export;
import dev.rbd.server.export.ServerConfig;
import dev.rbd.server.export.ServerContext;
import dev.rbd.server.export.SyncMode;
import dev.rbd.server.store.BlockStore;
import io.netty.channel.Channel;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.util.concurrent.GlobalEventExecutor;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.AbstractExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Shared server fixtures: exports, server contexts for handler tests without a network, and in-process servers
 * on a free loopback port.
 */
public final class TestServers {
    private TestServers() {
    }

    public static Export export(String name, BlockStore store, boolean readOnly) {
        return Export.builder(name, store).description(name + " for tests").readOnly(readOnly).build();
    }

    /** An export whose writes are answered without waiting for a sync, so no group commit thread is involved. */
    public static Export flushExport(String name, BlockStore store) {
        return Export.builder(name, store).description(name + " for tests").syncMode(SyncMode.FLUSH).build();
    }

    /** A context over the exports whose disk I/O runs when the test says so, on the test's thread. */
    public static ServerContext context(QueuedExecutor io, long maxInFlightBytes, Export... exports) {
        return new ServerContext(List.of(exports), io, new DefaultChannelGroup(GlobalEventExecutor.INSTANCE),
                Duration.ofSeconds(5), maxInFlightBytes);
    }

    public static ServerContext context(Export... exports) {
        return context(new QueuedExecutor(), 256L << 20, exports);
    }

    public static RbdServer start(Export... exports) throws Exception {
        return start(ServerConfig.defaults(List.of(new InetSocketAddress("127.0.0.1", 0)))
                .withHandshakeTimeout(Duration.ofSeconds(5)), exports);
    }

    public static RbdServer start(ServerConfig config, Export... exports) throws Exception {
        return new RbdServer(config, List.of(exports)).start();
    }

    /**
     * The server's side of a client's connection, found by the client's port once it has read the greeting (the
     * connection exists before the greeting is sent): tests set {@link Connection#identity} on it, as the TLS
     * handshake does.
     */
    public static Connection serverSide(RbdServer server, RawNbdClient client) {
        int port = client.socket.getLocalPort();
        for (Channel ch : server.context().channels()) {
            if (ch.remoteAddress() instanceof InetSocketAddress a && a.getPort() == port) {
                return Connection.of(ch);
            }
        }
        throw new AssertionError("no server connection from port " + port);
    }

    /**
     * An I/O executor that queues its tasks until {@link #runAll()}: with an {@code EmbeddedChannel}, whose event
     * loop is the test's thread, requests then stay in flight exactly as long as the test wants.
     */
    public static final class QueuedExecutor extends AbstractExecutorService {
        private final Queue<Runnable> tasks = new ArrayDeque<>();
        private boolean shutdown;

        @Override
        public void execute(Runnable task) {
            tasks.add(task);
        }

        /** Runs every queued task, including those queued meanwhile; returns how many ran. */
        public int runAll() {
            int n = 0;
            for (Runnable t; (t = tasks.poll()) != null; n++) {
                t.run();
            }
            return n;
        }

        public int queued() {
            return tasks.size();
        }

        @Override
        public void shutdown() {
            shutdown = true;
        }

        @Override
        public List<Runnable> shutdownNow() {
            shutdown = true;
            List<Runnable> left = List.copyOf(tasks);
            tasks.clear();
            return left;
        }

        @Override
        public boolean isShutdown() {
            return shutdown;
        }

        @Override
        public boolean isTerminated() {
            return shutdown && tasks.isEmpty();
        }

        @Override
        public boolean awaitTermination(long timeout, TimeUnit unit) {
            return isTerminated();
        }
    }
}
