package dev.rbd.client;

import java.time.Duration;
import java.util.concurrent.Executor;
import java.util.concurrent.ForkJoinPool;

/**
 * Every client setting with its default, in one place.
 *
 * @param connectTimeout  how long connecting and negotiating may take (default 10 s)
 * @param maxRequestSize  largest single request; bigger reads and writes are split, also to the server's advertised
 *                        maximum payload (default 4 MiB)
 * @param callbackExecutor where futures complete: never on a network thread (default the common pool)
 */
public record ClientOptions(Duration connectTimeout, int maxRequestSize, Executor callbackExecutor) {
    public static ClientOptions defaults() {
        return new ClientOptions(Duration.ofSeconds(10), 4 << 20, ForkJoinPool.commonPool());
    }

    public ClientOptions {
        if (maxRequestSize < 512) {
            throw new IllegalArgumentException("maxRequestSize: " + maxRequestSize + " (expected: >= 512)");
        }
    }

    public ClientOptions withConnectTimeout(Duration d) {
        return new ClientOptions(d, maxRequestSize, callbackExecutor);
    }

    public ClientOptions withMaxRequestSize(int n) {
        return new ClientOptions(connectTimeout, n, callbackExecutor);
    }
}
