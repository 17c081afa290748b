package dev.rbd.client.internal;

import dev.rbd.client.ClientOptions;
import dev.rbd.client.ConnectFailedException;
import dev.rbd.client.ExportEntry;
import dev.rbd.client.ExportInfo;
import dev.rbd.client.NbdUri;
import dev.rbd.client.RbdException;
import dev.rbd.protocol.RbdSession;
import dev.rbd.protocol.codec.ClientHandshakeDecoder;
import dev.rbd.protocol.codec.ClientHandshakeEncoder;
import dev.rbd.protocol.codec.ClientTransmissionCodec;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
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
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * Opens connections to one server: the event loop group, the bootstrap with the negotiation handlers, the
 * negotiation itself, and the swap to the transmission handlers. Used for the first connection and every
 * reconnect; nothing here blocks, each dial is a future.
 */
public final class Dialer implements AutoCloseable {
    private final NbdUri uri;
    private final ClientOptions options;
    private final EventLoopGroup group;
    private final Bootstrap bootstrap;
    /** TLS for every connection, or {@code null}. */
    private final StartTls tls;
    /** The id rbd's session option carries, the same for every connection of this client. */
    private final UUID clientId = UUID.randomUUID();

    public Dialer(NbdUri uri, ClientOptions options, int connections) {
        boolean epoll = Epoll.isAvailable();
        if (uri.isUnix() && !epoll) {
            throw new RbdException("nbd+unix needs the native epoll transport, unavailable here");
        }
        // before the event loops: a certificate directory that cannot be read fails here, with nothing to close
        this.tls = StartTls.of(uri, options);
        IoHandlerFactory factory = epoll ? EpollIoHandler.newFactory() : NioIoHandler.newFactory();
        this.uri = uri;
        this.options = options;
        this.group = new MultiThreadIoEventLoopGroup(Math.min(connections, Runtime.getRuntime().availableProcessors()),
                factory);
        this.bootstrap = new Bootstrap().group(group)
                .channel(uri.isUnix() ? EpollDomainSocketChannel.class
                        : epoll ? EpollSocketChannel.class : NioSocketChannel.class)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) options.connectTimeout().toMillis());
        if (!uri.isUnix()) {
            bootstrap.option(ChannelOption.TCP_NODELAY, true);
        }
    }

    /** Where reconnects are timed: an event loop, since nothing scheduled there blocks. */
    public ScheduledExecutorService scheduler() {
        return group.next();
    }

    /**
     * Opens the connection for {@code slot}, negotiates the export and swaps in the transmission handlers.
     * Completes on an event loop, with an {@link RbdException} saying why on failure.
     *
     * @param epoch the attempt's number, carried in rbd's session option so the server fences older ones
     */
    public CompletableFuture<Established> dial(int slot, long epoch) {
        Negotiator negotiator = Negotiator.forExport(uri.export(),
                options.fencing() || options.readOnly() ? new RbdSession.Request(clientId, slot, epoch, uri.export(),
                        options.readOnly() ? RbdSession.READ_ONLY_INTENT : 0) : null, options.blockStatus(), tls,
                uri.toString());
        return negotiate(negotiator, Negotiator::info).thenCompose(n -> {
            CompletableFuture<Established> out = new CompletableFuture<>();
            // Swap to the transmission handlers in a task of its own, not inside the decoder that completed it.
            n.channel().eventLoop().execute(() -> {
                try {
                    out.complete(new Established(swap(n.channel(), negotiator, n.result()), n.result(),
                            negotiator.serverInstance()));
                } catch (RuntimeException e) {
                    // e.g. the channel closed between negotiation and the swap, tearing down its pipeline
                    n.channel().close();
                    out.completeExceptionally(new RbdException("cannot connect to " + uri + ": "
                            + ConnectFailures.rootMessage(e), null, e));
                }
            });
            return out;
        });
    }

    /** Lists the server's exports over a connection of its own. */
    public CompletableFuture<List<ExportEntry>> list() {
        return negotiate(Negotiator.forList(tls, uri.toString()), Negotiator::entries).thenApply(n -> {
            n.channel().close();
            return n.result();
        });
    }

    /** A finished negotiation: its channel and result. */
    private record Negotiated<T>(Channel channel, T result) {
    }

    /**
     * Connects with the negotiation handlers in place and waits, at most the connect timeout, for the negotiator's
     * result; on failure the channel is closed.
     */
    private <T> CompletableFuture<Negotiated<T>> negotiate(Negotiator negotiator,
                                                            Function<Negotiator, CompletableFuture<T>> result) {
        CompletableFuture<Negotiated<T>> out = new CompletableFuture<>();
        SocketAddress address = uri.isUnix() ? new DomainSocketAddress(uri.socket().toFile())
                : new InetSocketAddress(uri.host(), uri.port());
        Bootstrap b = bootstrap.clone().handler(new ChannelInitializer<Channel>() {
            @Override
            protected void initChannel(Channel c) {
                c.pipeline().addLast(Negotiator.DECODER, new ClientHandshakeDecoder(1 << 20))
                        .addLast(Negotiator.ENCODER, new ClientHandshakeEncoder())
                        .addLast("negotiator", (ChannelHandler) negotiator);
            }
        });
        b.connect(address).addListener(f -> {
            if (!f.isSuccess()) {
                out.completeExceptionally(ConnectFailures.of(uri.toString(), f.cause()));
                return;
            }
            Channel ch = ((io.netty.channel.ChannelFuture) f).channel();
            var timeout = ch.eventLoop().schedule(() -> {
                if (out.completeExceptionally(new ConnectFailedException("negotiation with " + uri + " timed out after "
                        + options.connectTimeout(), uri.toString(), ConnectFailedException.Reason.TIMED_OUT,
                        "negotiation timed out after " + options.connectTimeout(), null))) {
                    ch.close();
                }
            }, options.connectTimeout().toMillis(), TimeUnit.MILLISECONDS);
            result.apply(negotiator).whenComplete((v, e) -> {
                timeout.cancel(false);
                boolean done = e == null ? out.complete(new Negotiated<>(ch, v))
                        : out.completeExceptionally(e instanceof RbdException ? e
                        : new RbdException(ConnectFailures.rootMessage(e), null, e));
                if (!done || e != null) {
                    ch.close();
                }
            });
        });
        return out;
    }

    /** Whether the connections use TLS. */
    public boolean tls() {
        return tls != null;
    }

    /** Swaps the handshake handlers for the transmission ones; a TLS handler stays first, where it is. */
    private Connection swap(Channel channel, Negotiator negotiator, ExportInfo info) {
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
    }

    /** Waits for a dial from a caller's thread, rethrowing its {@link RbdException}. */
    public static <T> T await(CompletableFuture<T> f, NbdUri uri) {
        try {
            return f.get();
        } catch (ExecutionException e) {
            throw e.getCause() instanceof RbdException r ? r
                    : new RbdException(ConnectFailures.rootMessage(e), null, e.getCause());
        } catch (InterruptedException e) {
            f.cancel(false);
            Thread.currentThread().interrupt();
            throw new RbdException("interrupted while connecting to " + uri);
        }
    }

    /** Closes the event loops; connections still open close with them. */
    @Override
    public void close() {
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly();
    }
}
