package dev.rbd.server.export;

import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * How a server runs: where it listens, and its limits.
 *
 * @param listen           TCP addresses to listen on (port 0 picks a free port)
 * @param unixSocket       a Unix socket path, or {@code null}
 * @param ioThreads        threads for disk I/O
 * @param eventLoopThreads threads for network I/O (0: Netty's default, twice the cores)
 * @param handshakeTimeout how long a client may take to finish its handshake
 * @param maxInFlightBytes request bytes one connection may hold in flight before reading pauses
 * @param drainTimeout     how long shutdown waits for in-flight requests
 * @param limits           connection counts and timeouts
 * @param access           which peers may connect at all
 * @param tls              whether and how STARTTLS is offered
 */
public record ServerConfig(List<InetSocketAddress> listen, Path unixSocket, int ioThreads, int eventLoopThreads,
                           Duration handshakeTimeout, long maxInFlightBytes, Duration drainTimeout,
                           Limits limits, AccessRules access, TlsConfig tls) {
    public static ServerConfig defaults(List<InetSocketAddress> listen) {
        return new ServerConfig(listen, null, defaultIoThreads(), 0, Duration.ofSeconds(10), 64L << 20,
                Duration.ofSeconds(30), Limits.DEFAULT, AccessRules.OPEN, TlsConfig.OFF);
    }

    public static int defaultIoThreads() {
        return Math.max(8, 4 * Runtime.getRuntime().availableProcessors());
    }

    public ServerConfig withUnixSocket(Path path) {
        return new ServerConfig(listen, path, ioThreads, eventLoopThreads, handshakeTimeout, maxInFlightBytes,
                drainTimeout, limits, access, tls);
    }

    public ServerConfig withHandshakeTimeout(Duration d) {
        return new ServerConfig(listen, unixSocket, ioThreads, eventLoopThreads, d, maxInFlightBytes, drainTimeout,
                limits, access, tls);
    }

    public ServerConfig withIoThreads(int n) {
        return new ServerConfig(listen, unixSocket, n, eventLoopThreads, handshakeTimeout, maxInFlightBytes,
                drainTimeout, limits, access, tls);
    }

    public ServerConfig withMaxInFlightBytes(long n) {
        return new ServerConfig(listen, unixSocket, ioThreads, eventLoopThreads, handshakeTimeout, n, drainTimeout,
                limits, access, tls);
    }

    public ServerConfig withLimits(Limits l) {
        return new ServerConfig(listen, unixSocket, ioThreads, eventLoopThreads, handshakeTimeout, maxInFlightBytes,
                drainTimeout, l, access, tls);
    }

    public ServerConfig withAccess(AccessRules a) {
        return new ServerConfig(listen, unixSocket, ioThreads, eventLoopThreads, handshakeTimeout, maxInFlightBytes,
                drainTimeout, limits, a, tls);
    }

    public ServerConfig withTls(TlsConfig t) {
        return new ServerConfig(listen, unixSocket, ioThreads, eventLoopThreads, handshakeTimeout, maxInFlightBytes,
                drainTimeout, limits, access, t);
    }
}
