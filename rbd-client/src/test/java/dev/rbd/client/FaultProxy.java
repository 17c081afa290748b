package dev.rbd.client;

import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandler.Sharable;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.util.AttributeKey;
import io.netty.util.concurrent.ScheduledFuture;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A loopback TCP proxy that injects faults into what it forwards, for client tests. Every accepted connection is
 * a {@link Link}, joined to a fresh connection to one upstream address; at any moment a test can delay, hold,
 * black-hole, cut or reset a link.
 *
 * <p>The proxy runs on one event loop thread, so a link's state has a single owner. The fault methods hand their
 * change to that thread and return once it is in force: bytes a test writes after the call are subject to it.
 */
final class FaultProxy implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(FaultProxy.class);
    private static final AttributeKey<Link> LINK = AttributeKey.valueOf(FaultProxy.class, "link");

    private final InetSocketAddress upstream;
    private final EventLoopGroup group;
    private final EventLoop loop;
    private final Channel listener;
    /** One future per link index asked for or accepted; guarded by itself. */
    private final List<CompletableFuture<Link>> links = new ArrayList<>();
    private final List<Link> accepted = new ArrayList<>(); // guarded by links
    private volatile Duration newLinkDelay = Duration.ZERO;
    private volatile boolean closed;

    private FaultProxy(InetSocketAddress upstream, EventLoopGroup group) {
        this.upstream = upstream;
        this.group = group;
        this.loop = group.next();
        this.listener = new ServerBootstrap().group(group).channel(NioServerSocketChannel.class)
                .handler(new Acceptor())
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast(ch.attr(LINK).get().new Downstream());
                    }
                })
                .bind(new InetSocketAddress("127.0.0.1", 0)).syncUninterruptibly().channel();
    }

    /** Listens on an ephemeral port of 127.0.0.1 and forwards every connection to {@code upstream}. */
    static FaultProxy start(InetSocketAddress upstream) {
        EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        try {
            return new FaultProxy(upstream, group);
        } catch (RuntimeException e) {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
            throw e;
        }
    }

    /** The port the proxy listens on. */
    int port() {
        return ((InetSocketAddress) listener.localAddress()).getPort();
    }

    /** An NBD URI for {@code export} that goes through this proxy. */
    String uri(String export) {
        return "nbd://127.0.0.1:" + port() + "/" + export;
    }

    /**
     * The {@code index}-th link accepted (0-based), waiting up to {@code timeout} for it to be accepted.
     *
     * @throws IllegalStateException if it was not accepted in time, or the proxy closed first
     */
    Link link(int index, Duration timeout) {
        CompletableFuture<Link> f = slot(index);
        try {
            return f.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            throw new IllegalStateException("no link " + index + " within " + timeout + " (" + linkCount()
                    + " accepted)");
        } catch (ExecutionException e) {
            throw new IllegalStateException("no link " + index + ": " + e.getCause().getMessage(), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted waiting for link " + index, e);
        }
    }

    /** Links accepted so far (none once the proxy closed: it forgets them). */
    int linkCount() {
        synchronized (links) {
            return accepted.size();
        }
    }

    /** Makes links accepted from now on start with {@link Link#delay(Duration)} set to {@code d}. */
    void delayNewLinks(Duration d) {
        newLinkDelay = d;
    }

    /** Closes the listener and every link, dropping whatever was held or delayed, and stops the event loop. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        listener.close().syncUninterruptibly(); // on the loop, after any accept already under way
        loop.submit(() -> {
            synchronized (links) {
                accepted.forEach(Link::shut);
                links.forEach(f -> f.completeExceptionally(new IllegalStateException("the proxy closed")));
                // forget the links, so that a buffer a link failed to release is garbage the leak detector sees
                accepted.clear();
                links.clear();
            }
        }).syncUninterruptibly();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }

    private CompletableFuture<Link> slot(int index) {
        synchronized (links) {
            while (links.size() <= index) {
                CompletableFuture<Link> f = new CompletableFuture<>();
                if (closed) {
                    f.completeExceptionally(new IllegalStateException("the proxy closed"));
                }
                links.add(f);
            }
            return links.get(index);
        }
    }

    /** Sees accepted channels in accept order, on the listener's pipeline ahead of Netty's acceptor. */
    @Sharable
    private final class Acceptor extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            Channel child = (Channel) msg;
            Link link = new Link(child);
            child.attr(LINK).set(link);
            synchronized (links) {
                accepted.add(link);
                slot(accepted.size() - 1).complete(link);
            }
            ctx.fireChannelRead(msg);
        }
    }

    private static void closeAfterFlush(Channel ch) {
        if (ch.isActive()) {
            ch.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
        } else {
            ch.close();
        }
    }

    /** Closes with SO_LINGER 0, so the peer gets a RST instead of a FIN. */
    private static void abort(Channel ch) {
        if (ch.isOpen()) {
            ch.config().setOption(ChannelOption.SO_LINGER, 0);
            ch.close();
        }
    }

    private enum Mode { PASS, HOLD, BLACKHOLE, CLOSED }

    /** A chunk waiting for its delay to pass. */
    private record Timed(long due, ByteBuf buf) {
    }

    /**
     * One accepted connection (downstream, the client's side) and the connection the proxy opened for it to the
     * upstream (the server's side). Its faults can be changed at any time from any thread.
     */
    final class Link {
        private final Channel downstream;
        private final Channel upstream;
        private final Direction up = new Direction(true);
        private final Direction down = new Direction(false);
        private final ArrayDeque<ByteBuf> held = new ArrayDeque<>();
        private final CompletableFuture<Void> upstreamClosed = new CompletableFuture<>();
        private final CompletableFuture<Void> downstreamClosed = new CompletableFuture<>();
        // the rest is touched on the event loop only
        private Mode mode = Mode.PASS;
        private long delayNanos = newLinkDelay.toNanos();
        private long cutLeft = -1; // client->server bytes still to forward before the cut; -1: no cut
        private boolean clientGone;
        private boolean serverGone;

        private Link(Channel downstream) {
            this.downstream = downstream;
            // read nothing from the client until the server side is connected (set here, not as a child
            // option, because a loopback connect may complete before the acceptor applies child options)
            downstream.config().setAutoRead(false);
            downstream.closeFuture().addListener(f -> downstreamClosed.complete(null));
            ChannelFuture connect = new Bootstrap().group(loop).channel(NioSocketChannel.class)
                    .option(ChannelOption.TCP_NODELAY, true)
                    .handler(new Upstream())
                    .connect(FaultProxy.this.upstream);
            this.upstream = connect.channel();
            upstream.closeFuture().addListener(f -> upstreamClosed.complete(null));
            // added once upstream is set: a connect that already completed runs the listener right here
            connect.addListener((ChannelFutureListener) f -> {
                if (!f.isSuccess()) {
                    log.debug("{} upstream connect failed: {}", downstream, f.cause().toString());
                    serverGone = true;
                    upstream.close();
                    settle();
                }
                if (mode != Mode.CLOSED) {
                    downstream.config().setAutoRead(true);
                }
            });
        }

        /** Aborts both sides with a TCP RST (SO_LINGER 0, then close), dropping whatever was held or delayed. */
        void reset() {
            onLoop(() -> {
                mode = Mode.CLOSED;
                discard();
                abort(downstream);
                abort(upstream);
            });
        }

        /**
         * From now on forwards nothing in either direction, not even a close, and discards what arrives (also
         * what was held or still delayed); both sockets stay open. {@link #release()} ends it.
         */
        void blackhole() {
            onLoop(() -> {
                if (mode != Mode.CLOSED) {
                    mode = Mode.BLACKHOLE;
                    discard();
                }
            });
        }

        /**
         * From now on buffers client->server bytes (and those still delayed) instead of forwarding them, and drops
         * server->client bytes. Closes are not passed on: the upstream stays open even if the client leaves.
         */
        void hold() {
            onLoop(() -> {
                if (mode == Mode.PASS) {
                    held.addAll(up.takeQueued());
                }
                if (mode != Mode.CLOSED) {
                    down.discard();
                    mode = Mode.HOLD;
                }
            });
        }

        /**
         * Ends a {@link #hold()} or {@link #blackhole()}: sends the held bytes upstream in order and resumes
         * pass-through, and passes on the closes that happened meanwhile (if the client already left, the upstream
         * is closed once the held bytes are written).
         */
        void release() {
            onLoop(() -> {
                if (mode == Mode.HOLD || mode == Mode.BLACKHOLE) {
                    mode = Mode.PASS;
                    for (ByteBuf b = held.poll(); b != null; b = held.poll()) {
                        fromClient(b);
                    }
                    settle();
                }
            });
        }

        /** Forwards each chunk read from now on, both directions, {@code d} later; order is preserved. */
        void delay(Duration d) {
            onLoop(() -> delayNanos = d.toNanos());
        }

        /** Forwards {@code n} more client->server bytes (splitting a chunk if need be), then closes both sides. */
        void cutAfter(long n) {
            if (n < 0) {
                throw new IllegalArgumentException("n: " + n + " (expected: >= 0)");
            }
            onLoop(() -> {
                cutLeft = n;
                settle();
            });
        }

        /** Client->server bytes forwarded so far. */
        long bytesUp() {
            return up.forwarded.get();
        }

        /** Server->client bytes forwarded so far. */
        long bytesDown() {
            return down.forwarded.get();
        }

        /** Client->server bytes read and not forwarded yet: delayed or held (none once the proxy closed). */
        long bytesWaitingUp() {
            if (closed) {
                return 0;
            }
            return loop.submit(() -> up.waiting() + held.stream().mapToLong(ByteBuf::readableBytes).sum())
                    .syncUninterruptibly().getNow();
        }

        /** Completes when the upstream (server) side of this link closed. */
        CompletableFuture<Void> upstreamClosed() {
            return upstreamClosed.copy();
        }

        /** Completes when the downstream (client) side of this link closed. */
        CompletableFuture<Void> downstreamClosed() {
            return downstreamClosed.copy();
        }

        /** Runs a change on the event loop and waits for it; once the proxy closed, links stay as they are. */
        private void onLoop(Runnable change) {
            if (closed) {
                return;
            }
            if (loop.inEventLoop()) {
                change.run();
            } else {
                loop.submit(change).syncUninterruptibly();
            }
        }

        private void fromClient(ByteBuf buf) {
            if (mode == Mode.HOLD) {
                held.add(buf);
                return;
            }
            if (mode != Mode.PASS || cutLeft == 0) {
                buf.release();
                return;
            }
            ByteBuf chunk = buf;
            if (cutLeft > 0) {
                if (buf.readableBytes() > cutLeft) {
                    chunk = buf.readRetainedSlice((int) cutLeft);
                    buf.release();
                }
                cutLeft -= chunk.readableBytes();
            }
            up.send(chunk);
            if (cutLeft == 0) {
                settle();
            }
        }

        private void fromServer(ByteBuf buf) {
            if (mode == Mode.PASS) {
                down.send(buf);
            } else {
                buf.release();
            }
        }

        /** In pass-through, closes what the cut and the peers' closes call for, once nothing is left to write. */
        private void settle() {
            if (mode != Mode.PASS) {
                return;
            }
            if (up.idle() && (cutLeft == 0 || clientGone)) {
                closeAfterFlush(upstream);
                if (cutLeft == 0) {
                    closeAfterFlush(downstream);
                }
            }
            if (down.idle() && serverGone) {
                closeAfterFlush(downstream);
            }
        }

        /** Called by the proxy's close, on the event loop. */
        private void shut() {
            mode = Mode.CLOSED;
            discard();
            downstream.close();
            upstream.close();
        }

        private void discard() {
            held.forEach(ByteBuf::release);
            held.clear();
            up.discard();
            down.discard();
        }

        /** One direction of the link: writes chunks to its target at once, or in order once their delay passed. */
        private final class Direction {
            private final boolean toServer;
            private final ArrayDeque<Timed> queue = new ArrayDeque<>();
            private final AtomicLong forwarded = new AtomicLong();
            private long lastDue;
            private ScheduledFuture<?> drain;

            Direction(boolean toServer) {
                this.toServer = toServer;
            }

            void send(ByteBuf buf) {
                if (delayNanos == 0 && queue.isEmpty()) {
                    write(buf);
                    return;
                }
                // never before an earlier chunk, even if the delay was shortened meanwhile
                long due = Math.max(System.nanoTime() + delayNanos, lastDue);
                lastDue = due;
                queue.add(new Timed(due, buf));
                if (drain == null) {
                    schedule();
                }
            }

            private void schedule() {
                drain = loop.schedule(this::drain, queue.peek().due() - System.nanoTime(), TimeUnit.NANOSECONDS);
            }

            private void drain() {
                drain = null;
                long now = System.nanoTime();
                while (!queue.isEmpty() && queue.peek().due() - now <= 0) {
                    write(queue.poll().buf());
                }
                if (queue.isEmpty()) {
                    settle();
                } else {
                    schedule();
                }
            }

            private void write(ByteBuf buf) {
                Channel target = toServer ? upstream : downstream;
                if (!target.isActive()) {
                    buf.release();
                    return;
                }
                forwarded.addAndGet(buf.readableBytes());
                target.writeAndFlush(buf);
            }

            long waiting() {
                return queue.stream().mapToLong(t -> t.buf().readableBytes()).sum();
            }

            boolean idle() {
                return queue.isEmpty();
            }

            /** Takes the chunks still waiting, in order, for the caller to own. */
            List<ByteBuf> takeQueued() {
                List<ByteBuf> out = new ArrayList<>(queue.size());
                for (Timed t = queue.poll(); t != null; t = queue.poll()) {
                    out.add(t.buf());
                }
                if (drain != null) {
                    drain.cancel(false);
                    drain = null;
                }
                return out;
            }

            void discard() {
                takeQueued().forEach(ByteBuf::release);
            }
        }

        /** The client's side: reads are forwarded upstream; its writability throttles reads from the server. */
        private final class Downstream extends ChannelInboundHandlerAdapter {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                fromClient((ByteBuf) msg);
            }

            @Override
            public void channelInactive(ChannelHandlerContext ctx) {
                clientGone = true;
                settle();
            }

            @Override
            public void channelWritabilityChanged(ChannelHandlerContext ctx) {
                upstream.config().setAutoRead(ctx.channel().isWritable());
            }

            @Override
            public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                log.debug("{} downstream: {}", ctx.channel(), cause.toString());
                ctx.close();
            }
        }

        /** The server's side: reads are forwarded downstream; its writability throttles reads from the client. */
        private final class Upstream extends ChannelInboundHandlerAdapter {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                fromServer((ByteBuf) msg);
            }

            @Override
            public void channelInactive(ChannelHandlerContext ctx) {
                serverGone = true;
                settle();
            }

            @Override
            public void channelWritabilityChanged(ChannelHandlerContext ctx) {
                downstream.config().setAutoRead(ctx.channel().isWritable());
            }

            @Override
            public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                log.debug("{} upstream: {}", ctx.channel(), cause.toString());
                ctx.close();
            }
        }
    }
}
