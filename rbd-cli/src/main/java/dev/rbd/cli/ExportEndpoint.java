package dev.rbd.cli;

import dev.rbd.client.ClientOptions;
import dev.rbd.client.ExportInfo;
import dev.rbd.client.RbdClient;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/** An NBD export through one {@link RbdClient}, which spreads the requests over its connections. */
final class ExportEndpoint implements CopyEndpoint {
    private static final byte[] ZEROES = new byte[1 << 20];

    private final RbdClient client;
    private final ExecutorService executor;
    private final String name;
    /** The source's extents when its server gives block status, else null. */
    private final ExtentWalk extents;
    /** Extents of the last BLOCK_STATUS reply not yet passed by {@link #extentAt}. */
    private final ArrayDeque<ExtentWalk.Range> known = new ArrayDeque<>();

    private ExportEndpoint(RbdClient client, ExecutorService executor) {
        this.client = client;
        this.executor = executor;
        this.name = "export '" + client.uri().export() + "'";
        this.extents = client.info().blockStatus() ? new ExtentWalk(client) : null;
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
    public CompletableFuture<ByteBuffer> read(long offset, ByteBuffer dst) {
        return client.read(offset, dst);
    }

    /**
     * From BLOCK_STATUS where the server gives it: copy asks in order, so one reply serves the extents it tells and
     * the next is asked for where they end. Neighbours that both read as zeroes, or both not, are one extent here.
     */
    @Override
    public ExtentWalk.Range extentAt(long offset) {
        if (extents == null) {
            return CopyEndpoint.super.extentAt(offset);
        }
        while (!known.isEmpty() && known.peekFirst().end() <= offset) {
            known.pollFirst();
        }
        if (known.isEmpty() || known.peekFirst().offset() > offset) {
            known.clear();
            known.addAll(extents.from(offset));
        }
        ExtentWalk.Range first = known.peekFirst();
        long end = first.end();
        for (ExtentWalk.Range r : known) {
            if (r.offset() == end && r.zero() == first.zero()) {
                end = r.end();
            } else if (r != first) {
                break;
            }
        }
        return new ExtentWalk.Range(offset, end - offset, first.zero() ? first.flags() : 0);
    }

    @Override
    public CompletableFuture<Void> write(long offset, ByteBuffer data) {
        return client.write(offset, data);
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
