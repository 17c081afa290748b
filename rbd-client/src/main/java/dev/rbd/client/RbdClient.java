package dev.rbd.client;

import dev.rbd.client.internal.Connection;
import dev.rbd.client.internal.Budget;
import dev.rbd.client.internal.Negotiator;
import dev.rbd.client.internal.OverlapIndex;
import dev.rbd.client.internal.Session;
import dev.rbd.protocol.NbdCommand;
import dev.rbd.protocol.NbdConstants;
import dev.rbd.protocol.NbdRequest;
import dev.rbd.protocol.RbdSession;
import dev.rbd.protocol.codec.ClientHandshakeDecoder;
import dev.rbd.protocol.codec.ClientHandshakeEncoder;
import dev.rbd.protocol.codec.ClientTransmissionCodec;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.handler.timeout.IdleStateHandler;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
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
public final class RbdClient implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(RbdClient.class);

    private final NbdUri uri;
    private final ClientOptions options;
    private final EventLoopGroup group;
    private final Session session;
    private final ExportInfo info;
    private final OverlapIndex overlaps = new OverlapIndex();
    private final Budget budget;

    private RbdClient(NbdUri uri, ClientOptions options, EventLoopGroup group, List<Session.Established> first,
                      Session.Connector connector) {
        this.uri = uri;
        this.options = options;
        this.group = group;
        this.info = first.get(0).info();
        this.budget = new Budget(options.maxInFlight(), options.maxRetainedBytes(), options.blockTimeout());
        this.session = new Session(first, connector, new Session.Policy(options.reconnectWait(),
                options.backoffInitial(), options.backoffMax(), options.quiescence(),
                options.maxRetainedBytes() / 8), options.callbackExecutor());
    }

    public static RbdClient connect(String uri) {
        return connect(uri, ClientOptions.defaults());
    }

    /** Connects and negotiates; throws {@link RbdException} with the reason (refused, unknown export, ...). */
    public static RbdClient connect(String uriText, ClientOptions options) {
        NbdUri uri = NbdUri.parse(uriText);
        EventLoopGroup group = newGroup(uri, options.connections());
        UUID id = UUID.randomUUID();
        Session.Connector connector = (slot, epoch) -> establish(uri, options, group,
                options.fencing() ? new RbdSession.Request(id, slot, epoch, uri.export()) : null);
        List<Session.Established> first = new ArrayList<>();
        try {
            first.add(connector.connect(0, 1));
            ExportInfo info = first.get(0).info();
            if (options.connections() > 1 && !info.canMultiConn()) {
                log.info("{}: the server does not allow multi-conn; using one connection, not {}", uri,
                        options.connections());
            }
            for (int slot = 1; slot < options.connections() && info.canMultiConn(); slot++) {
                first.add(connector.connect(slot, 1));
            }
            if (options.fencing() && !info.fencing()) {
                log.info("{}: the server cannot fence connections (no rbd session option); a reconnect waits {} ms "
                        + "before replaying", uri, options.quiescence().toMillis());
            }
            return new RbdClient(uri, options, group, first, connector);
        } catch (RuntimeException e) {
            first.forEach(f -> f.connection().channel().close());
            shutdown(null, group);
            throw e;
        }
    }

    /** Opens one connection and negotiates the export; also used for every reconnect. */
    private static Session.Established establish(NbdUri uri, ClientOptions options, EventLoopGroup group,
                                                 RbdSession.Request sessionOption) {
        Negotiator negotiator = Negotiator.forExport(uri.export(), sessionOption);
        Channel ch = null;
        try {
            ch = open(uri, options, negotiator, group);
            ExportInfo info = await(negotiator.info(), options, uri);
            Channel channel = ch;
            // Swap to the transmission handlers on the event loop, where the negotiator completed.
            Connection connection = CompletableFuture.supplyAsync(() -> {
                Connection c = new Connection(channel);
                ChannelPipeline p = channel.pipeline();
                p.addAfter(Negotiator.DECODER, "transmission-codec",
                        new ClientTransmissionCodec(c, Math.max(info.maxPayload(), options.maxRequestSize()) + 8));
                p.addAfter("transmission-codec", "io-timeout",
                        new IdleStateHandler(options.ioTimeout().toMillis(), 0, 0, TimeUnit.MILLISECONDS));
                p.addAfter("io-timeout", "connection", c);
                p.remove(negotiator);
                p.remove(Negotiator.ENCODER);
                p.remove(Negotiator.DECODER);
                return c;
            }, channel.eventLoop()).join();
            return new Session.Established(connection, info, negotiator.serverInstance());
        } catch (RuntimeException e) {
            if (ch != null) {
                ch.close().awaitUninterruptibly();
            }
            // e.g. the channel closed between negotiation and the handler swap, tearing down its pipeline
            throw e instanceof RbdException r ? r : new RbdException("cannot connect to " + uri + ": "
                    + rootMessage(e), null, e);
        }
    }

    /** Lists the exports of the server a URI points at (its export part is ignored). */
    public static List<ExportEntry> listExports(String uriText, ClientOptions options) {
        NbdUri uri = NbdUri.parse(uriText);
        Negotiator negotiator = Negotiator.forList();
        EventLoopGroup group = newGroup(uri, 1);
        Channel ch = null;
        try {
            ch = open(uri, options, negotiator, group);
            return await(negotiator.entries(), options, uri);
        } finally {
            shutdown(ch, group);
        }
    }

    private static EventLoopGroup newGroup(NbdUri uri, int connections) {
        boolean epoll = Epoll.isAvailable();
        if (uri.isUnix() && !epoll) {
            throw new RbdException("nbd+unix needs the native epoll transport, unavailable here");
        }
        IoHandlerFactory factory = epoll ? EpollIoHandler.newFactory() : NioIoHandler.newFactory();
        return new MultiThreadIoEventLoopGroup(Math.min(connections, Runtime.getRuntime().availableProcessors()),
                factory);
    }

    /** Connects with the negotiation handlers in place; negotiation then runs on the event loop. */
    private static Channel open(NbdUri uri, ClientOptions options, Negotiator negotiator, EventLoopGroup group) {
        boolean epoll = Epoll.isAvailable();
        SocketAddress address = uri.isUnix() ? new DomainSocketAddress(uri.socket().toFile())
                : new InetSocketAddress(uri.host(), uri.port());
        Bootstrap b = new Bootstrap().group(group)
                .channel(uri.isUnix() ? EpollDomainSocketChannel.class
                        : epoll ? EpollSocketChannel.class : NioSocketChannel.class)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) options.connectTimeout().toMillis())
                .handler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel c) {
                        c.pipeline().addLast(Negotiator.DECODER, new ClientHandshakeDecoder(1 << 20))
                                .addLast(Negotiator.ENCODER, new ClientHandshakeEncoder())
                                .addLast("negotiator", (ChannelHandler) negotiator);
                    }
                });
        if (!uri.isUnix()) {
            b.option(ChannelOption.TCP_NODELAY, true);
        }
        ChannelFuture f = b.connect(address).awaitUninterruptibly();
        if (!f.isSuccess()) {
            throw new RbdException("cannot connect to " + uri + ": " + rootMessage(f.cause()), null, f.cause());
        }
        return f.channel();
    }

    private static void shutdown(Channel ch, EventLoopGroup group) {
        if (ch != null) {
            ch.close().awaitUninterruptibly();
        }
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly();
    }

    private static <T> T await(CompletableFuture<T> f, ClientOptions options, NbdUri uri) {
        try {
            return f.get(options.connectTimeout().toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof RbdException r ? r : new RbdException(rootMessage(e), null, e.getCause());
        } catch (TimeoutException e) {
            throw new RbdException("negotiation with " + uri + " timed out after " + options.connectTimeout());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new RbdException("interrupted while connecting to " + uri);
        }
    }

    private static String rootMessage(Throwable t) {
        Throwable c = t;
        while (c.getCause() != null && c.getCause() != c) {
            c = c.getCause();
        }
        return c.getMessage() != null ? c.getMessage() : c.toString();
    }

    public ExportInfo info() {
        return info;
    }

    public NbdUri uri() {
        return uri;
    }

    /** Requests are split at multiples of the preferred block size (at least the minimum), within the payload limit. */
    private int chunk() {
        int max = Math.min(options.maxRequestSize(), info.maxPayload());
        int align = Math.max(info.minimumBlock(), info.preferredBlock() <= max ? info.preferredBlock() : 1);
        return Math.max(info.minimumBlock(), max - max % align);
    }

    /**
     * Reads {@code length} bytes at {@code offset} (unsigned), split into requests of the server's maximum size.
     * Like every operation here, it blocks the caller (up to the block timeout) when the in-flight limit is reached.
     */
    public CompletableFuture<byte[]> read(long offset, int length) {
        byte[] out = new byte[length];
        return split(length, chunk(), (at, n) -> send(0, NbdCommand.READ, offset + at, n, Unpooled.EMPTY_BUFFER,
                out, (int) at)).thenApply(v -> out);
    }

    public CompletableFuture<Void> write(long offset, byte[] data) {
        return write(offset, data, false);
    }

    /**
     * Writes {@code data} at {@code offset}; with {@code fua} (or in sync mode) the future completes once it is on
     * stable storage. {@code data} must stay unchanged until the future completes; where the server's acks are
     * not durable, the client keeps its own copy until a FLUSH covers the write.
     */
    public CompletableFuture<Void> write(long offset, byte[] data, boolean fua) {
        int flags = durableFlags(fua);
        boolean copy = !info.durableAcks() && (flags & NbdConstants.CMD_FLAG_FUA) == 0;
        return synced(split(data.length, chunk(), (at, n) -> send(flags, NbdCommand.WRITE, offset + at, n,
                copy ? Unpooled.copiedBuffer(data, (int) at, (int) n) : Unpooled.wrappedBuffer(data, (int) at,
                        (int) n), null, 0)), flags);
    }

    /** FUA when asked, or in sync mode where acks are not durable and the server takes FUA. */
    private int durableFlags(boolean fua) {
        boolean sync = options.syncWrites() && !info.durableAcks() && info.canFua();
        return fua || sync ? NbdConstants.CMD_FLAG_FUA : 0;
    }

    /** In sync mode, on a server that neither acks durably nor takes FUA: a FLUSH after the write. */
    private CompletableFuture<Void> synced(CompletableFuture<Void> done, int flags) {
        if (!options.syncWrites() || info.durableAcks() || (flags & NbdConstants.CMD_FLAG_FUA) != 0) {
            return done;
        }
        return done.thenCompose(v -> flush());
    }

    /**
     * Makes every write submitted before this call durable: the FLUSH is sent once their replies are in, since
     * NBD's FLUSH covers only writes the server has already answered. Over several connections one FLUSH is
     * enough: they are only opened where the server advertises CAN_MULTI_CONN, which promises that a FLUSH covers
     * the writes answered on every connection.
     */
    public CompletableFuture<Void> flush() {
        return overlaps.writesSoFar().handle((v, e) -> null).thenCompose(
                v -> session.submit(0, NbdCommand.FLUSH, 0, 0, Unpooled.EMPTY_BUFFER, null, 0, () -> { }, () -> { }));
    }

    /**
     * Sends one request once no earlier request it overlaps is in flight (reads run beside reads), so overlapping
     * requests take effect in submission order.
     */
    private CompletableFuture<Void> send(int flags, NbdCommand cmd, long offset, long length, ByteBuf payload,
                                         byte[] target, int targetOffset) {
        int weight = budget.weight(payload.readableBytes());
        try {
            budget.acquire(weight);
        } catch (RbdException e) {
            payload.release();
            throw e;
        }
        OverlapIndex.Admission a = overlaps.admit(offset, length, cmd != NbdCommand.READ && cmd != NbdCommand.CACHE);
        // runs at once when nothing overlapping is in flight
        // The overlap entry and the request slot go at the answer, the bytes when the session lets go of the
        // payload (at the answer, or at a FLUSH covering it): on the network thread, so a caller blocked in a
        // callback cannot hold up what would unblock it.
        return a.ready().thenCompose(v -> session.submit(flags, cmd, offset, (int) length, payload, target,
                targetOffset, () -> {
                    a.entry().release();
                    budget.releaseRequest();
                }, () -> budget.releaseBytes(weight)));
    }

    public CompletableFuture<Void> trim(long offset, long length) {
        int flags = durableFlags(false);
        return synced(ranged(NbdCommand.TRIM, flags, offset, length), flags);
    }

    /** Zeroes a range; {@code mayPunch=false} sends NO_HOLE so the range stays allocated. */
    public CompletableFuture<Void> writeZeroes(long offset, long length, boolean mayPunch) {
        int flags = durableFlags(false);
        return synced(ranged(NbdCommand.WRITE_ZEROES, flags | (mayPunch ? 0 : NbdConstants.CMD_FLAG_NO_HOLE), offset,
                length), flags);
    }

    public CompletableFuture<Void> cache(long offset, long length) {
        return ranged(NbdCommand.CACHE, 0, offset, length);
    }

    /** Payload-less commands may cover up to 4 GiB - 1 per request; longer ranges are split on block bounds. */
    private CompletableFuture<Void> ranged(NbdCommand cmd, int flags, long offset, long length) {
        long max = 0xFFFF_FFFFL - 0xFFFF_FFFFL % Math.max(info.preferredBlock(), info.minimumBlock());
        return split(length, max, (at, n) -> send(flags, cmd, offset + at, n, Unpooled.EMPTY_BUFFER, null, 0));
    }

    /** One request of its own. */
    @FunctionalInterface
    private interface Part {
        CompletableFuture<Void> send(long at, long length);
    }

    /**
     * Splits {@code length} bytes into requests of at most {@code chunk} (a zero length still makes one request)
     * and completes when all of them have.
     */
    private static CompletableFuture<Void> split(long length, long chunk, Part part) {
        List<CompletableFuture<Void>> parts = new ArrayList<>();
        long done = 0;
        do {
            long n = Math.min(chunk, length - done);
            parts.add(part.send(done, n));
            done += n;
        } while (done < length);
        return CompletableFuture.allOf(parts.toArray(new CompletableFuture<?>[0]));
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
     * not yet durable, sends DISC, and closes the connections.
     */
    @Override
    public void close() {
        try {
            overlaps.allSoFar().get(options.blockTimeout().toMillis(), TimeUnit.MILLISECONDS);
            if (session.unflushedBytes() > 0 && session.failure() == null) {
                flush().get(options.blockTimeout().toMillis(), TimeUnit.MILLISECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | TimeoutException e) {
            // close anyway: what is still in flight fails as the connection ends
            log.warn("{}: closing with requests unanswered: {}", uri, rootMessage(e));
        }
        for (Connection c : session.close()) {
            Channel channel = c.channel();
            if (channel.isActive()) {
                channel.writeAndFlush(NbdRequest.of(0, NbdCommand.DISC, 0, 0, 0)).awaitUninterruptibly();
            }
            channel.close().awaitUninterruptibly();
        }
        shutdown(null, group);
    }
}
