package dev.rbd.cli;

import dev.rbd.client.ClientOptions;
import dev.rbd.client.ExportInfo;
import dev.rbd.client.RbdClient;
import java.util.Arrays;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/** An NBD export through one {@link RbdClient}, which spreads the requests over its connections. */
final class ExportEndpoint implements CopyEndpoint {
    private static final byte[] ZEROES = new byte[1 << 20];

    private final RbdClient client;
    private final ExecutorService executor;
    private final String name;

    private ExportEndpoint(RbdClient client, ExecutorService executor) {
        this.client = client;
        this.executor = executor;
        this.name = "export '" + client.uri().export() + "'";
    }

    /** Connects; futures complete on a thread of this export's own (the common pool has one thread on 2 cores). */
    static ExportEndpoint connect(String uri, ClientOptions options, String threadName) {
        ExecutorService executor = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, threadName);
            t.setDaemon(true);
            return t;
        });
        try {
            return new ExportEndpoint(OpenClients.connect(uri, options.toBuilder().callbackExecutor(executor).build()),
                    executor);
        } catch (RuntimeException e) {
            executor.shutdown();
            throw e;
        }
    }

    ExportInfo info() {
        return client.info();
    }

    @Override
    public String describe() {
        return name;
    }

    @Override
    public long size() {
        return client.info().size();
    }

    @Override
    public int blockSize() {
        return Math.max(client.info().minimumBlock(), client.info().preferredBlock());
    }

    @Override
    public void prepareTarget(long length) {
        if (client.info().readOnly()) {
            throw new IllegalStateException(name + " is read-only");
        }
        if (size() < length) {
            throw new IllegalStateException(name + " has " + size() + " bytes, less than the source's " + length);
        }
    }

    @Override
    public CompletableFuture<byte[]> read(long offset, int length) {
        return client.read(offset, length);
    }

    @Override
    public CompletableFuture<Void> write(long offset, byte[] data, int from, int length) {
        // the client writes whole arrays: a part of a chunk needs a copy of its own
        return client.write(offset, from == 0 && length == data.length ? data
                : Arrays.copyOfRange(data, from, from + length));
    }

    /** WRITE_ZEROES where the export takes it (a hole is allowed), else plain writes of zeroes. */
    @Override
    public CompletableFuture<Void> zero(long offset, long length) {
        if (client.info().canWriteZeroes()) {
            return client.writeZeroes(offset, length, true);
        }
        CompletableFuture<?>[] parts = new CompletableFuture<?>[(int) ((length + ZEROES.length - 1) / ZEROES.length)];
        for (int i = 0; i < parts.length; i++) {
            long at = (long) i * ZEROES.length;
            int n = (int) Math.min(ZEROES.length, length - at);
            parts[i] = client.write(offset + at, n == ZEROES.length ? ZEROES : new byte[n]);
        }
        return CompletableFuture.allOf(parts);
    }

    @Override
    public CompletableFuture<Void> flush() {
        return client.info().canFlush() ? client.flush() : CompletableFuture.completedFuture(null);
    }

    @Override
    public void close() {
        try {
            client.close();
        } finally {
            executor.shutdown();
        }
    }
}
