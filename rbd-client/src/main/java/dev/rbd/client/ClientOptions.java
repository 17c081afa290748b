package dev.rbd.client;

import java.time.Duration;
import java.util.concurrent.Executor;
import java.util.concurrent.ForkJoinPool;

/**
 * Every client setting with its default, in one place. Take {@link #defaults()}, or change what you need with
 * {@link #builder()} (or {@link #toBuilder()} of other options) and {@link Builder#build()}.
 *
 * @param connections      connections to open where the server allows multi-conn ({@code CAN_MULTI_CONN});
 *                         requests are spread over them (default 1)
 * @param connectTimeout   how long connecting and negotiating may take (default 10 s)
 * @param maxRequestSize   largest single request; bigger reads and writes are split, also to the server's
 *                         advertised maximum payload (default 4 MiB)
 * @param maxInFlight      requests sent and not yet answered, at most, over all connections (default 64)
 * @param maxRetainedBytes bytes of write payload held until acknowledged (and, where the server's acks are not
 *                         durable, until a FLUSH covers them), at most (default 64 MiB); at an eighth of it the client
 *                         sends a FLUSH of its own
 * @param blockTimeout     how long a caller blocks for room under those limits before it gets an
 *                         {@link RbdException} (default 30 s)
 * @param ioTimeout        a connection with requests outstanding that receives nothing for this long is taken
 *                         for dead: it is closed, and its requests replayed on a new one (default 30 s)
 * @param reconnectWait    how long to keep trying to reconnect after a connection died; 0 disables
 *                         reconnecting (default 60 s). A reconnect that fails TLS ({@link TlsFailedException}:
 *                         the server refused STARTTLS or a certificate) ends the trying at once: asking again would
 *                         get the same answer
 * @param backoffInitial   first pause between reconnect attempts, doubled up to {@code backoffMax}, with jitter
 *                         (default 100 ms, max 5 s)
 * @param quiescence       how long to wait after reconnecting to a server that cannot fence (any server but
 *                         rbd-server) before replaying, so that the dead connection's requests still inside the
 *                         server drain first (default 1 s)
 * @param fencing          send rbd's session option, so rbd-server fences a dead connection before the replay
 *                         (default true; foreign servers decline it)
 * @param syncWrites       every write, trim and zeroing completes only once it is on stable storage: nothing
 *                         extra where the server's acks are durable, else FUA, else a FLUSH after it
 *                         (default false)
 * @param readOnly         the client only reads: rbd's session option says so (READ_ONLY_INTENT), and rbd-server
 *                         then lets it in without the export's writer lock, so it works while another client
 *                         writes, and refuses its writes; other servers never learn of it (default false)
 * @param blockStatus      ask for the {@code base:allocation} metadata context, so
 *                         {@link RbdClient#blockStatus} can tell holes and zeroes from data where the server offers
 *                         it (rbd-server does not; nbdkit and qemu-nbd do) (default false)
 * @param tls              TLS for every connection even with a plain {@code nbd://} URI, or {@code null} (the default)
 *                         for what the URI says: {@code nbds://} asks for TLS with the settings in its query, and
 *                         where it has no {@code tls-certificates} the directory here is used; once TLS is asked
 *                         for, the client never goes on in plaintext ({@link TlsFailedException})
 * @param callbackExecutor where futures complete: never on a network thread (default the common pool)
 */
public record ClientOptions(int connections, Duration connectTimeout, int maxRequestSize, int maxInFlight,
                            int maxRetainedBytes, Duration blockTimeout, Duration ioTimeout, Duration reconnectWait,
                            Duration backoffInitial, Duration backoffMax, Duration quiescence, boolean fencing,
                            boolean syncWrites, boolean readOnly, boolean blockStatus, TlsSettings tls,
                            Executor callbackExecutor) {
    public static ClientOptions defaults() {
        return new ClientOptions(1, Duration.ofSeconds(10), 4 << 20, 64, 64 << 20, Duration.ofSeconds(30),
                Duration.ofSeconds(30), Duration.ofSeconds(60), Duration.ofMillis(100), Duration.ofSeconds(5),
                Duration.ofSeconds(1), true, false, false, false, null, ForkJoinPool.commonPool());
    }

    public ClientOptions {
        if (connections < 1 || connections > 64) {
            throw new IllegalArgumentException("connections: " + connections + " (expected: 1..64)");
        }
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

    /** A builder starting from the defaults. */
    public static Builder builder() {
        return defaults().toBuilder();
    }

    /** A builder starting from these options. */
    public Builder toBuilder() {
        return new Builder(this);
    }

    /** A mutable copy of a set of options; {@link #build()} checks them. */
    public static final class Builder {
        private int connections;
        private Duration connectTimeout;
        private int maxRequestSize;
        private int maxInFlight;
        private int maxRetainedBytes;
        private Duration blockTimeout;
        private Duration ioTimeout;
        private Duration reconnectWait;
        private Duration backoffInitial;
        private Duration backoffMax;
        private Duration quiescence;
        private boolean fencing;
        private boolean syncWrites;
        private boolean readOnly;
        private boolean blockStatus;
        private TlsSettings tls;
        private Executor callbackExecutor;

        private Builder(ClientOptions o) {
            connections = o.connections;
            connectTimeout = o.connectTimeout;
            maxRequestSize = o.maxRequestSize;
            maxInFlight = o.maxInFlight;
            maxRetainedBytes = o.maxRetainedBytes;
            blockTimeout = o.blockTimeout;
            ioTimeout = o.ioTimeout;
            reconnectWait = o.reconnectWait;
            backoffInitial = o.backoffInitial;
            backoffMax = o.backoffMax;
            quiescence = o.quiescence;
            fencing = o.fencing;
            syncWrites = o.syncWrites;
            readOnly = o.readOnly;
            blockStatus = o.blockStatus;
            tls = o.tls;
            callbackExecutor = o.callbackExecutor;
        }

        public Builder connections(int n) {
            connections = n;
            return this;
        }

        public Builder connectTimeout(Duration d) {
            connectTimeout = d;
            return this;
        }

        public Builder maxRequestSize(int n) {
            maxRequestSize = n;
            return this;
        }

        public Builder maxInFlight(int n) {
            maxInFlight = n;
            return this;
        }

        public Builder maxRetainedBytes(int n) {
            maxRetainedBytes = n;
            return this;
        }

        public Builder blockTimeout(Duration d) {
            blockTimeout = d;
            return this;
        }

        public Builder ioTimeout(Duration d) {
            ioTimeout = d;
            return this;
        }

        public Builder reconnectWait(Duration d) {
            reconnectWait = d;
            return this;
        }

        public Builder backoff(Duration initial, Duration max) {
            backoffInitial = initial;
            backoffMax = max;
            return this;
        }

        public Builder quiescence(Duration d) {
            quiescence = d;
            return this;
        }

        public Builder fencing(boolean on) {
            fencing = on;
            return this;
        }

        public Builder syncWrites(boolean on) {
            syncWrites = on;
            return this;
        }

        public Builder readOnly(boolean on) {
            readOnly = on;
            return this;
        }

        public Builder blockStatus(boolean on) {
            blockStatus = on;
            return this;
        }

        /** TLS for every connection, or {@code null} for what the URI says. */
        public Builder tls(TlsSettings settings) {
            tls = settings;
            return this;
        }

        public Builder callbackExecutor(Executor e) {
            callbackExecutor = e;
            return this;
        }

        public ClientOptions build() {
            return new ClientOptions(connections, connectTimeout, maxRequestSize, maxInFlight, maxRetainedBytes,
                    blockTimeout, ioTimeout, reconnectWait, backoffInitial, backoffMax, quiescence, fencing,
                    syncWrites, readOnly, blockStatus, tls, callbackExecutor);
        }
    }
}
