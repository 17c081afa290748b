package dev.rbd.server.transmission;

import dev.rbd.protocol.NbdCommand;
import dev.rbd.protocol.NbdError;
import dev.rbd.protocol.NbdRequest;
import dev.rbd.server.export.Connection;
import dev.rbd.server.export.Export;
import dev.rbd.server.export.Fenceable;
import dev.rbd.server.export.Fenced;
import dev.rbd.server.export.ServerContext;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoop;
import io.netty.handler.codec.DecoderException;
import java.io.IOException;
import java.util.concurrent.CompletableFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The transmission phase of one connection: hands requests to the {@link Dispatcher}, writes replies in whatever
 * order they complete, pauses reading while too much is in flight, and on DISC finishes what is in flight before
 * closing. It is also the connection's {@link Fenceable} in this phase. All its state is touched on the
 * channel's event loop only; flow control is {@link Backpressure}'s job, encoding replies {@link ReplyWriter}'s.
 */
public final class TransmissionHandler extends ChannelInboundHandlerAdapter implements Fenceable {
    private static final Logger log = LoggerFactory.getLogger(TransmissionHandler.class);

    private final ServerContext server;
    private final Export export;
    private final Connection conn;
    private final boolean structured;
    private final Dispatcher dispatcher;
    private ChannelHandlerContext ctx;
    private Backpressure backpressure;
    private ReplyWriter replies;
    private boolean disconnecting;
    private boolean closed;
    private boolean released;
    private boolean fenced;
    private int finishedAfterFence;
    private int droppedAfterFence;
    private CompletableFuture<Fenced> fenceDone;

    public TransmissionHandler(ServerContext server, Export export, Connection conn, boolean structured) {
        this.server = server;
        this.export = export;
        this.conn = conn;
        this.structured = structured;
        this.dispatcher = new Dispatcher(export, server.io());
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
        this.backpressure = new Backpressure(ctx.channel().config(), server.maxInFlightBytes());
        this.replies = new ReplyWriter(ctx, conn, export.name(), structured);
        conn.fenceable(this);
    }

    /**
     * Fences this connection (on its event loop): nothing more is read, requests still waiting for an I/O thread
     * are discarded, the bytes not yet read are dropped with the connection, and the future completes once no
     * request this connection read is running any more. Replies still due go nowhere.
     */
    @Override
    public CompletableFuture<Fenced> fence() {
        if (fenceDone == null) {
            fenced = true;
            fenceDone = new CompletableFuture<>();
            dispatcher.fence();
            ctx.channel().config().setAutoRead(false);
            log.info("[{}] fenced: a newer connection of {} took over; {} request(s) still running", conn.id(),
                    conn.label(), conn.inFlight());
            ctx.close();
            fenceIfDone();
        }
        return fenceDone;
    }

    private void fenceIfDone() {
        if (fenceDone != null && conn.inFlight() == 0 && !fenceDone.isDone()) {
            int discarded = dispatcher.discarded() + droppedAfterFence;
            fenceDone.complete(new Fenced(finishedAfterFence - dispatcher.discarded(), discarded));
        }
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (!(msg instanceof NbdRequest req)) {
            ctx.fireChannelRead(msg);
            return;
        }
        if (disconnecting || fenced) {
            // "the client MUST NOT send any further requests" after DISC: drop them; a fenced connection's
            // remaining bytes are dropped too.
            droppedAfterFence += fenced ? 1 : 0;
            req.release();
            return;
        }
        if (req.command() == NbdCommand.DISC) {
            req.release();
            disconnecting = true;
            log.debug("[{}] DISC with {} requests in flight", conn.id(), conn.inFlight());
            closeIfDone();
            return;
        }
        conn.requests().incrementAndGet();
        if (server.draining()) {
            long cookie = req.cookie();
            req.release();
            replies.write(req.command(), cookie, 0, Outcome.error(NbdError.ESHUTDOWN, "server is shutting down"));
            return;
        }
        NbdCommand cmd = req.command();
        long cookie = req.cookie();
        long offset = req.offset();
        long weight = Backpressure.weight(req);
        conn.started();
        backpressure.started(weight);
        dispatcher.dispatch(req, structured, ctx.alloc()).whenComplete((outcome, e) -> {
            Outcome o = e == null ? outcome : StoreErrors.toOutcome(e);
            EventLoop loop = ctx.channel().eventLoop();
            if (loop.inEventLoop()) {
                completed(cmd, cookie, offset, weight, o);
            } else {
                loop.execute(() -> completed(cmd, cookie, offset, weight, o));
            }
        });
    }

    private void completed(NbdCommand cmd, long cookie, long offset, long weight, Outcome o) {
        if (fenced) {
            finishedAfterFence++;
        }
        if (o.ok()) {
            if (cmd == NbdCommand.READ) {
                conn.bytesRead().addAndGet(o.data().readableBytes());
            } else if (cmd == NbdCommand.WRITE) {
                conn.bytesWritten().addAndGet(weight - 64);
            }
        }
        replies.write(cmd, cookie, offset, o);
        backpressure.finished(weight);
        // After the reply: a drain waiting for this connection then sees it flushed before closing the channel.
        int inFlight = conn.finished();
        closeIfDone();
        if (inFlight == 0) {
            releaseIfClosed();
            fenceIfDone();
        }
    }

    /** The writer lock goes once the connection is closed and none of its requests still runs. */
    private void releaseIfClosed() {
        if (closed && conn.inFlight() == 0 && !released) {
            released = true;
            export.writerLock().release(conn.client(), disconnecting);
        }
    }

    private void closeIfDone() {
        if (disconnecting && conn.inFlight() == 0) {
            ctx.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
        }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        closed = true;
        releaseIfClosed();
        log.info("[{}] closed peer={} export={} duration={}ms requests={} read={}B written={}B", conn.id(),
                conn.peer(), export.name(), conn.ageMillis(), conn.requests().get(), conn.bytesRead().get(),
                conn.bytesWritten().get());
        ctx.fireChannelInactive();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (cause instanceof DecoderException) {
            log.warn("[{}] {}: protocol error, closing: {}", conn.id(), conn.peer(),
                    cause.getCause() != null ? cause.getCause().getMessage() : cause.getMessage());
        } else if (cause instanceof IOException) {
            log.debug("[{}] {}: {}", conn.id(), conn.peer(), cause.toString());
        } else {
            log.error("[{}] {}: unexpected error, closing", conn.id(), conn.peer(), cause);
        }
        ctx.close();
    }
}
