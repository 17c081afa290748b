package dev.rbd.client;

import dev.rbd.client.internal.Budget;
import dev.rbd.client.internal.Connection;
import dev.rbd.client.internal.Dialer;
import dev.rbd.client.internal.Established;
import dev.rbd.client.internal.Policy;
import dev.rbd.client.internal.Session;
import dev.rbd.client.internal.Submitter;
import dev.rbd.protocol.MetaContext;
import dev.rbd.protocol.NbdCommand;
import dev.rbd.protocol.NbdRequest;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A client of one NBD export: requests are pipelined over one connection, or several where the server allows
 * multi-conn, replies matched by cookie in any order, and large requests split to the server's maximum payload.
 * Every operation returns a future that completes off the network thread; failures are {@link RbdException}s
 * ({@link NbdErrorException} carries the server's error, {@link OutcomeUnknownException} marks a write whose fate
 * cannot be known). Writes survive the connection and the server: see {@link Session}.
 */
public final class RbdClient implements AsyncBlockDevice, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(RbdClient.class);
    /**
     * How long disconnecting waits, over all connections, for the server to end them after DISC. The server closes a
     * connection once the requests it read before the DISC are done; closing first could reset the connection
     * before the server has read the DISC, and rbd-server would then hold the writer lock for a reconnect.
     */
    public static final Duration DISCONNECT_WAIT = Duration.ofSeconds(2);

    private final NbdUri uri;
    private final ClientOptions options;
    private final Dialer dialer;
    private final Session session;
    private final ExportInfo info;
    private final Budget budget;
    private final Submitter submitter;

    private RbdClient(NbdUri uri, ClientOptions options, Dialer dialer, List<Established> first) {
        this.uri = uri;
        this.options = options;
        this.dialer = dialer;
        this.info = first.get(0).info();
        this.budget = new Budget(options.maxInFlight(), options.maxRetainedBytes(), options.blockTimeout());
        this.session = new Session(first, dialer, new Policy(options.reconnectWait(),
                options.backoffInitial(), options.backoffMax(), options.quiescence(),
                options.maxRetainedBytes() / 8), options.callbackExecutor());
        this.submitter = new Submitter(options, info, session, budget);
    }

    public static RbdClient connect(String uri) {
        return connect(uri, ClientOptions.defaults());
    }

    /**
     * Connects and negotiates; throws the reason: {@link ConnectFailedException} (refused, unreachable, timed
     * out), {@link UnknownExportException}, {@link PolicyRefusedException}, or another {@link RbdException}.
     */
    public static RbdClient connect(String uriText, ClientOptions options) {
        NbdUri uri = NbdUri.parse(uriText);
        Dialer dialer = new Dialer(uri, options, options.connections());
        List<Established> first = new ArrayList<>();
        try {
            first.add(Dialer.await(dialer.dial(0, 1), uri));
            ExportInfo info = first.get(0).info();
            if (options.connections() > 1 && !info.canMultiConn()) {
                log.info("{}: the server does not allow multi-conn; using one connection, not {}", uri,
                        options.connections());
            }
            for (int slot = 1; slot < options.connections() && info.canMultiConn(); slot++) {
                first.add(Dialer.await(dialer.dial(slot, 1), uri));
            }
            if (options.fencing() && !info.fencing()) {
                log.info("{}: the server cannot fence connections (no rbd session option); a reconnect waits {} ms "
                        + "before replaying", uri, options.quiescence().toMillis());
            }
            return new RbdClient(uri, options, dialer, first);
        } catch (RuntimeException e) {
            first.forEach(f -> f.connection().channel().close());
            dialer.close();
            throw e;
        }
    }

    /** Lists the exports of the server a URI points at (its export part is ignored). */
    public static List<ExportEntry> listExports(String uriText, ClientOptions options) {
        NbdUri uri = NbdUri.parse(uriText);
        try (Dialer dialer = new Dialer(uri, options, 1)) {
            return Dialer.await(dialer.list(), uri);
        }
    }

    @Override
    public ExportInfo info() {
        return info;
    }

    public NbdUri uri() {
        return uri;
    }

    /**
     * Reads {@code length} bytes at {@code offset} (unsigned), split into requests of the server's maximum size.
     * Like every operation here, it blocks the caller (up to the block timeout) when the in-flight limit is reached.
     */
    @Override
    public CompletableFuture<byte[]> read(long offset, int length) {
        return submitter.read(offset, length);
    }

    /**
     * Reads {@code dst.remaining()} bytes at {@code offset} (unsigned) straight into {@code dst}, from its position
     * up to its limit, without an array of its own: a direct buffer takes the data as it comes off the network,
     * with one copy. The buffer's position and limit are left as they were; the future completes with {@code dst}
     * once every byte has landed. Until then the bytes between them belong to the client: the caller must not
     * read or change them. Split and blocking like {@link #read(long, int)}.
     */
    public CompletableFuture<ByteBuffer> read(long offset, ByteBuffer dst) {
        if (dst.isReadOnly()) {
            throw new IllegalArgumentException("cannot read into a read-only buffer");
        }
        return submitter.read(offset, dst);
    }

    /**
     * Writes {@code data.remaining()} bytes from {@code data}'s position at {@code offset}, without copying them
     * where the server's acks are durable (or the write is FUA): the requests carry the buffer itself, so a direct
     * buffer goes to the socket as it is. The buffer's position and limit are left as they were; the bytes between
     * them must stay unchanged until the future completes. Where acks are not durable, the client keeps its own
     * copy until a FLUSH covers the write, as for {@link #write(long, byte[], boolean)}.
     */
    public CompletableFuture<Void> write(long offset, ByteBuffer data, boolean fua) {
        return submitter.write(offset, data, fua);
    }

    /** {@link #write(long, ByteBuffer, boolean)} without FUA. */
    public CompletableFuture<Void> write(long offset, ByteBuffer data) {
        return write(offset, data, false);
    }

    @Override
    public CompletableFuture<Void> write(long offset, byte[] data) {
        return write(offset, data, false);
    }

    /**
     * Writes {@code data} at {@code offset}; with {@code fua} (or in sync mode) the future completes once it is on
     * stable storage. {@code data} must stay unchanged until the future completes; where the server's acks are
     * not durable, the client keeps its own copy until a FLUSH covers the write.
     */
    public CompletableFuture<Void> write(long offset, byte[] data, boolean fua) {
        return submitter.write(offset, data, fua);
    }

    /**
     * Makes every write submitted before this call durable: the FLUSH is sent once their replies are in, since
     * NBD's FLUSH covers only writes the server has already answered. Over several connections one FLUSH is
     * enough: they are only opened where the server advertises CAN_MULTI_CONN, which promises that a FLUSH covers
     * the writes answered on every connection.
     */
    @Override
    public CompletableFuture<Void> flush() {
        return submitter.flush();
    }

    @Override
    public CompletableFuture<Void> trim(long offset, long length) {
        return submitter.trim(offset, length);
    }

    /** Zeroes a range; {@code mayPunch=false} sends NO_HOLE so the range stays allocated. */
    public CompletableFuture<Void> writeZeroes(long offset, long length, boolean mayPunch) {
        return submitter.writeZeroes(offset, length, mayPunch);
    }

    public CompletableFuture<Void> cache(long offset, long length) {
        return submitter.cache(offset, length);
    }

    /**
     * The allocation status of the range from {@code offset} ({@code length} unsigned, at most 4 GiB - 1), from
     * NBD's BLOCK_STATUS with the {@code base:allocation} context: extents in order from {@code offset}, each a hole
     * and/or reading as zeroes ({@link MetaContext#STATE_HOLE}, {@link MetaContext#STATE_ZERO}) or not. They cover at
     * least the start of the range, perhaps less than all of it. Only where the client asked for it
     * ({@link ClientOptions#blockStatus()}) and the server gave it ({@link ExportInfo#blockStatus()}).
     */
    public CompletableFuture<List<MetaContext.Extent>> blockStatus(long offset, int length) {
        if (!info.blockStatus()) {
            throw new IllegalStateException(uri + ": the server gave no base:allocation context for BLOCK_STATUS");
        }
        return submitter.blockStatus(offset, length);
    }

    /** A blocking view of this client. */
    public BlockDevice blocking() {
        return new BlockDevice(this);
    }

    /** Requests sent and not yet answered, over all connections (for tests and metrics). */
    public int inFlight() {
        int n = 0;
        for (Connection c : session.connections()) {
            n += c.inFlight().join();
        }
        return n;
    }

    /** Connections open now (several only where the server allows multi-conn and more were asked for). */
    public int connections() {
        return session.connections().size();
    }

    /** Bytes of acknowledged writes kept until a FLUSH covers them (0 where the server's acks are durable). */
    public long unflushedBytes() {
        return session.unflushedBytes();
    }

    /** Successful reconnects so far. */
    public int reconnects() {
        return session.reconnects();
    }

    /** Requests caught by a dead connection and sent again after a reconnect. */
    public long replayed() {
        return session.replayed();
    }

    /** Write payload bytes held until acknowledged. */
    public int retainedBytes() {
        return budget.bytesHeld();
    }

    /** Requests counted against the in-flight limit (admitted, not yet answered). */
    public int admittedRequests() {
        return budget.requestsHeld();
    }

    /**
     * Waits (at most the block timeout) until every request was answered, flushes where acknowledged writes are
     * not yet durable, then disconnects as {@link #abandon()} does.
     */
    @Override
    public void close() {
        try {
            submitter.allSoFar().get(options.blockTimeout().toMillis(), TimeUnit.MILLISECONDS);
            if (session.unflushedBytes() > 0 && session.failure() == null) {
                flush().get(options.blockTimeout().toMillis(), TimeUnit.MILLISECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | TimeoutException e) {
            // close anyway: what is still in flight fails as the connection ends
            Throwable cause = e.getCause() != null ? e.getCause() : e;
            log.warn("{}: closing with requests unanswered: {}", uri, cause.getMessage() != null ? cause.getMessage()
                    : cause.toString());
        }
        abandon();
    }

    /**
     * Gives up on whatever is in flight and disconnects cleanly, within {@link #DISCONNECT_WAIT}: stops
     * reconnecting, sends DISC on every connection at once, waits for the server to close them, then closes what is
     * left. Requests the server has not answered by then fail. For an interrupted program: the server sees a
     * goodbye, not a crash, so the export is free at once. Callable more than once, from any thread but a network
     * thread.
     */
    public void abandon() {
        List<Connection> live = session.close();
        List<Channel> channels = new ArrayList<>();
        for (Connection c : live) {
            Channel channel = c.channel();
            channels.add(channel);
            if (channel.isActive()) {
                channel.writeAndFlush(NbdRequest.of(0, NbdCommand.DISC, 0, 0, 0));
            }
        }
        long deadline = System.nanoTime() + DISCONNECT_WAIT.toNanos();
        for (Channel channel : channels) {
            ChannelFuture closed = channel.closeFuture();
            long left = deadline - System.nanoTime();
            if (left <= 0 || !closed.awaitUninterruptibly(left, TimeUnit.NANOSECONDS)) {
                log.debug("{}: the server did not close the connection after DISC within {} ms; closing it", uri,
                        DISCONNECT_WAIT.toMillis());
            }
            channel.close().awaitUninterruptibly(DISCONNECT_WAIT.toMillis(), TimeUnit.MILLISECONDS);
        }
        dialer.close();
    }
}
