package dev.rbd.client;

import java.time.Duration;
import java.util.concurrent.Executor;
import java.util.concurrent.ForkJoinPool;

/**
 * Every client setting with its default, in one place.
 *
 * @param connectTimeout   how long connecting and negotiating may take (default 10 s)
 * @param maxRequestSize   largest single request; bigger reads and writes are split, also to the server's
 *                         advertised maximum payload (default 4 MiB)
 * @param maxInFlight      requests sent and not yet answered, at most (default 64)
 * @param maxRetainedBytes bytes of write payload held until acknowledged, at most (default 64 MiB)
 * @param blockTimeout     how long a caller blocks for room under those limits before it gets an
 *                         {@link RbdException} (default 30 s)
 * @param ioTimeout        a connection with requests outstanding that receives nothing for this long is taken
 *                         for dead: it is closed, and its requests replayed on a new one (default 30 s)
 * @param reconnectWait    how long to keep trying to reconnect after the connection died; 0 disables
 *                         reconnecting (default 60 s)
 * @param backoffInitial   first pause between reconnect attempts, doubled up to {@code backoffMax}, with jitter
 *                         (default 100 ms, max 5 s)
 * @param quiescence       how long to wait after reconnecting before replaying, so that requests of the dead
 *                         connection still inside the server drain first; used because no server fences yet
 *                         (default 1 s)
 * @param callbackExecutor where futures complete: never on a network thread (default the common pool)
 */
public record ClientOptions(Duration connectTimeout, int maxRequestSize, int maxInFlight, int maxRetainedBytes,
                            Duration blockTimeout, Duration ioTimeout, Duration reconnectWait,
                            Duration backoffInitial, Duration backoffMax, Duration quiescence,
                            Executor callbackExecutor) {
    public static ClientOptions defaults() {
        return new ClientOptions(Duration.ofSeconds(10), 4 << 20, 64, 64 << 20, Duration.ofSeconds(30),
                Duration.ofSeconds(30), Duration.ofSeconds(60), Duration.ofMillis(100), Duration.ofSeconds(5),
                Duration.ofSeconds(1), ForkJoinPool.commonPool());
    }

    public ClientOptions {
        if (maxRequestSize < 512) {
            throw new IllegalArgumentException("maxRequestSize: " + maxRequestSize + " (expected: >= 512)");
        }
        if (maxInFlight < 1) {
            throw new IllegalArgumentException("maxInFlight: " + maxInFlight + " (expected: >= 1)");
        }
        if (maxRetainedBytes < 512) {
            throw new IllegalArgumentException("maxRetainedBytes: " + maxRetainedBytes + " (expected: >= 512)");
        }
        if (backoffInitial.toMillis() < 1 || backoffMax.compareTo(backoffInitial) < 0) {
            throw new IllegalArgumentException("backoff: " + backoffInitial + ".." + backoffMax
                    + " (expected: 1 ms <= initial <= max)");
        }
        if (ioTimeout.toMillis() < 1) {
            throw new IllegalArgumentException("ioTimeout: " + ioTimeout + " (expected: >= 1 ms)");
        }
    }

    public ClientOptions withConnectTimeout(Duration d) {
        return new ClientOptions(d, maxRequestSize, maxInFlight, maxRetainedBytes, blockTimeout, ioTimeout,
                reconnectWait, backoffInitial, backoffMax, quiescence, callbackExecutor);
    }

    public ClientOptions withMaxRequestSize(int n) {
        return new ClientOptions(connectTimeout, n, maxInFlight, maxRetainedBytes, blockTimeout, ioTimeout,
                reconnectWait, backoffInitial, backoffMax, quiescence, callbackExecutor);
    }

    public ClientOptions withMaxInFlight(int n) {
        return new ClientOptions(connectTimeout, maxRequestSize, n, maxRetainedBytes, blockTimeout, ioTimeout,
                reconnectWait, backoffInitial, backoffMax, quiescence, callbackExecutor);
    }

    public ClientOptions withMaxRetainedBytes(int n) {
        return new ClientOptions(connectTimeout, maxRequestSize, maxInFlight, n, blockTimeout, ioTimeout,
                reconnectWait, backoffInitial, backoffMax, quiescence, callbackExecutor);
    }

    public ClientOptions withBlockTimeout(Duration d) {
        return new ClientOptions(connectTimeout, maxRequestSize, maxInFlight, maxRetainedBytes, d, ioTimeout,
                reconnectWait, backoffInitial, backoffMax, quiescence, callbackExecutor);
    }

    public ClientOptions withIoTimeout(Duration d) {
        return new ClientOptions(connectTimeout, maxRequestSize, maxInFlight, maxRetainedBytes, blockTimeout, d,
                reconnectWait, backoffInitial, backoffMax, quiescence, callbackExecutor);
    }

    public ClientOptions withReconnectWait(Duration d) {
        return new ClientOptions(connectTimeout, maxRequestSize, maxInFlight, maxRetainedBytes, blockTimeout,
                ioTimeout, d, backoffInitial, backoffMax, quiescence, callbackExecutor);
    }

    public ClientOptions withBackoff(Duration initial, Duration max) {
        return new ClientOptions(connectTimeout, maxRequestSize, maxInFlight, maxRetainedBytes, blockTimeout,
                ioTimeout, reconnectWait, initial, max, quiescence, callbackExecutor);
    }

    public ClientOptions withQuiescence(Duration d) {
        return new ClientOptions(connectTimeout, maxRequestSize, maxInFlight, maxRetainedBytes, blockTimeout,
                ioTimeout, reconnectWait, backoffInitial, backoffMax, d, callbackExecutor);
    }
}
