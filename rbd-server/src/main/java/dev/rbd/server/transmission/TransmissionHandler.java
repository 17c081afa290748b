package dev.rbd.server.transmission;

import dev.rbd.protocol.NbdCommand;
import dev.rbd.protocol.NbdConstants;
import dev.rbd.protocol.NbdError;
import dev.rbd.protocol.NbdRequest;
import dev.rbd.protocol.NbdWritePart;
import dev.rbd.protocol.codec.RequestDecoder;
import dev.rbd.protocol.codec.ServerTransmissionCodec;
import dev.rbd.server.export.Connection;
import dev.rbd.server.export.Export;
import dev.rbd.server.export.Fenceable;
import dev.rbd.server.export.Fenced;
import dev.rbd.server.export.ServerContext;
import dev.rbd.server.export.StatusContext;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.EventLoop;
import io.netty.handler.codec.DecoderException;
import io.netty.util.ReferenceCountUtil;
import java.io.IOException;
import java.util.ArrayDeque;
import java.util.List;
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
    /** Requests (and parts) read while over the memory limits, started in order as bytes are released. */
    private final ArrayDeque<Object> waiting = new ArrayDeque<>();
    private boolean startingWaiting;
    /** Reading is paused by the memory limits. */
    private boolean paused;
    /** The streamed write whose parts are arriving, or {@code null}. */
    private StreamedWrite receiving;
    private final ReadStreams streams;
    /** Closes the connection when idle or stalled, or {@code null} when both timeouts are off. */
    private ConnectionTimeouts timeouts;

    /** The streamed reads' and writes' view of this handler. */
    private final StreamOwner owner = new StreamOwner() {
        @Override
        public void onLoop(Runnable r) {
            TransmissionHandler.this.onLoop(r);
        }

        @Override
        public void completed(NbdCommand cmd, long cookie, long offset, long weight, Outcome o) {
            TransmissionHandler.this.completed(cmd, cookie, offset, weight, o);
        }

        @Override
        public void requestDone() {
            TransmissionHandler.this.requestDone();
        }

        @Override
        public void released(long weight) {
            TransmissionHandler.this.released(weight);
        }

        @Override
        public void holding(long bytes) {
            backpressure.add(bytes);
            updateReading();
        }

        @Override
        public boolean fenced() {
            return fenced;
        }

        @Override
        public void streamDone() {
            streams.done();
        }
    };

    public TransmissionHandler(ServerContext server, Export export, Connection conn, boolean structured) {
        this(server, export, conn, structured, List.of());
    }

    /** @param contexts the metadata contexts SET_META_CONTEXT selected, answered by BLOCK_STATUS */
    public TransmissionHandler(ServerContext server, Export export, Connection conn, boolean structured,
                               List<StatusContext> contexts) {
        this.server = server;
        this.export = export;
        this.conn = conn;
        this.structured = structured;
        this.streams = new ReadStreams(structured);
        this.dispatcher = new Dispatcher(export, server.io(), conn.readOnly(), contexts);
        this.released = conn.readOnly(); // it never claimed the writer lock
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
        this.backpressure = new Backpressure(server.maxInFlightBytes(), server.memory());
        this.replies = new ReplyWriter(ctx, conn, export.name(), structured);
        conn.fenceable(this);
        if (ConnectionTimeouts.wanted(server.limits())) {
            ServerTransmissionCodec codec = ctx.pipeline().get(ServerTransmissionCodec.class);
            timeouts = new ConnectionTimeouts(conn, server.limits(),
                    () -> receiving != null || (codec != null && codec.midRequest()),
                    () -> conn.inFlight() > (receiving != null ? 1 : 0) || !waiting.isEmpty());
            ctx.pipeline().addFirst("timeouts", timeouts);
        }
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
            releaseWaiting();
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
        if (!(msg instanceof NbdRequest) && !(msg instanceof NbdWritePart)) {
            ctx.fireChannelRead(msg);
            return;
        }
        if (timeouts != null && !(msg instanceof NbdRequest r && r.payloadStreamed())) {
            timeouts.arrived(); // a streamed write's header is not a whole request: its parts are
        }
        if (waiting.isEmpty() && handle(msg)) {
            return;
        }
        // Over the memory limits: it waits, in order, and reading stops. What waits is bounded by what one read
        // brought in.
        waiting.add(msg);
        updateReading();
    }

    /** Handles a request or a streamed write's part; false (keeping it) when the memory limits say it must wait. */
    private boolean handle(Object msg) {
        if (msg instanceof NbdWritePart part) {
            StreamedWrite w = receiving;
            if (w == null) {
                part.release(); // of a write that was refused or dropped
            } else {
                if (part.last()) {
                    receiving = null;
                }
                w.part(part);
            }
            return true;
        }
        NbdRequest req = (NbdRequest) msg;
        if (disconnecting || fenced) {
            // "the client MUST NOT send any further requests" after DISC: drop them; a fenced connection's
            // remaining bytes are dropped too.
            droppedAfterFence += fenced ? 1 : 0;
            req.release();
            return true;
        }
        if (req.command() == NbdCommand.DISC) {
            req.release();
            disconnecting = true;
            log.debug("[{}] DISC with {} requests in flight", conn.id(), conn.inFlight());
            closeIfDone();
            return true;
        }
        if (server.draining()) {
            conn.requests().incrementAndGet();
            long cookie = req.cookie();
            req.release();
            replies.write(req.command(), cookie, 0, Outcome.error(NbdError.ESHUTDOWN, "server is shutting down"),
                    () -> { });
            return true;
        }
        long weight = Backpressure.weight(req);
        if (!backpressure.tryStart(weight)) {
            return false;
        }
        conn.requests().incrementAndGet();
        conn.started();
        NbdCommand cmd = req.command();
        long cookie = req.cookie();
        long offset = req.offset();
        try {
            start(req, weight);
        } catch (Throwable t) {
            // e.g. no memory for a buffer on the event loop: the request is still answered, the loop lives on
            if (req.refCnt() > 0) {
                req.release();
            }
            log.warn("[{}] {} cookie {} failed to start: {}", conn.id(), cmd, cookie, t.toString());
            completed(cmd, cookie, offset, weight, StoreErrors.toOutcome(t));
        }
        return true;
    }

    private void start(NbdRequest req, long weight) {
        NbdCommand cmd = req.command();
        long cookie = req.cookie();
        long offset = req.offset();
        if (req.payloadStreamed() || (cmd == NbdCommand.READ && req.length() > RequestDecoder.FILL_LIMIT)) {
            Outcome invalid = dispatcher.validate(req, structured);
            long length = req.length();
            boolean fua = req.hasFlag(NbdConstants.CMD_FLAG_FUA);
            req.release();
            if (invalid != null) {
                completed(cmd, cookie, offset, weight, invalid); // a refused write's parts are dropped as they come
            } else if (cmd == NbdCommand.READ) {
                streams.start(new StreamedRead(owner, dispatcher, conn, ctx, replies, cookie, offset, length, weight));
            } else {
                receiving = new StreamedWrite(owner, dispatcher, conn, cookie, offset, length, fua, weight);
            }
            return;
        }
        dispatcher.dispatch(req, structured, ctx.alloc()).whenComplete((outcome, e) -> {
            Outcome o = e == null ? outcome : StoreErrors.toOutcome(e);
            onLoop(() -> completed(cmd, cookie, offset, weight, o));
        });
    }

    private void onLoop(Runnable r) {
        EventLoop loop = ctx.channel().eventLoop();
        if (loop.inEventLoop()) {
            r.run();
        } else {
            loop.execute(r);
        }
    }

    private void completed(NbdCommand cmd, long cookie, long offset, long weight, Outcome o) {
        if (fenced) {
            finishedAfterFence++;
        }
        if (o.ok()) {
            if (cmd == NbdCommand.READ) {
                conn.bytesRead().addAndGet(o.data().readableBytes());
            } else if (cmd == NbdCommand.WRITE && weight > 64) {
                conn.bytesWritten().addAndGet(weight - 64);
            }
        }
        replies.write(cmd, cookie, offset, o, () -> released(weight));
        requestDone();
    }

    /** A request's reply is written (or given to the pipeline, for a streamed read's last piece). */
    private void requestDone() {
        // After the reply: a drain waiting for this connection then sees it flushed before closing the channel.
        int inFlight = conn.finished();
        closeIfDone();
        if (inFlight == 0) {
            releaseIfClosed();
            fenceIfDone();
        }
    }

    /** Bytes a request held are gone (its reply left, or a part was stored): waiting requests may start. */
    private void released(long weight) {
        backpressure.finished(weight);
        if (startingWaiting) {
            return;
        }
        startingWaiting = true;
        try {
            Object m;
            while ((m = waiting.peek()) != null && handle(m)) {
                waiting.poll();
            }
        } finally {
            startingWaiting = false;
        }
        updateReading();
    }

    /** Reads while nothing waits and the connection is within its limits; pauses otherwise. */
    private void updateReading() {
        if (fenced || closed) {
            return;
        }
        boolean read = waiting.isEmpty() && (paused ? backpressure.mayResume() : !backpressure.overLimit());
        if (read == paused) {
            paused = !read;
            ctx.channel().config().setAutoRead(read);
        }
    }

    /**
     * The writer lock goes once the connection is closed and none of its requests still runs; so does the
     * connection's own export (a temporary overlay), closed on an I/O thread.
     */
    private void releaseIfClosed() {
        if (closed && conn.inFlight() == 0 && !released) {
            released = true;
            export.writerLock().release(conn.client(), disconnecting);
            export.connectionEnded(server.io());
        }
    }

    /** Requests that never started: dropped with the connection. A DISC among them still counts as a goodbye. */
    private void releaseWaiting() {
        Object m;
        while ((m = waiting.poll()) != null) {
            if (fenced && m instanceof NbdRequest) {
                droppedAfterFence++;
            }
            if (!fenced && m instanceof NbdRequest r && r.command() == NbdCommand.DISC) {
                disconnecting = true;
            }
            ReferenceCountUtil.release(m);
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
        releaseWaiting();
        if (receiving != null) {
            StreamedWrite w = receiving;
            receiving = null;
            w.abort();
        }
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
