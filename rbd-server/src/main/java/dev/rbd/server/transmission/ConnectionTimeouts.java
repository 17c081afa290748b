package dev.rbd.server.transmission;

import dev.rbd.protocol.NbdString;
import dev.rbd.server.export.Connection;
import dev.rbd.server.export.Limits;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Closes a transmission-phase connection that is idle ({@code --idle-timeout}: no request arrived, none ran and no
 * reply was being sent) or stalled ({@code --stall-timeout}: a request partly received and no byte since, or reply
 * bytes queued that the peer does not read). A half-sent request counts as idle. While reading is paused by
 * {@link Backpressure} the server, not the client, is the one not reading, so that never counts as a stall.
 *
 * <p>It sits first in the pipeline to see every byte that arrives, and looks at the connection a few times per
 * timeout, on the event loop; closing the channel finishes its requests and releases its writer lock as any close.
 * Netty's {@code IdleStateHandler} was not enough: it cannot tell a partly received request from an idle connection,
 * nor a reading pause of ours from the client's.
 */
final class ConnectionTimeouts extends ChannelInboundHandlerAdapter {
    private static final Logger log = LoggerFactory.getLogger(ConnectionTimeouts.class);
    /** The longest between two looks: a 60 s timeout closes within 61 s. */
    private static final long MAX_TICK_NANOS = TimeUnit.SECONDS.toNanos(1);
    private static final long MIN_TICK_NANOS = TimeUnit.MILLISECONDS.toNanos(10);

    private final Connection conn;
    private final long idleNanos;
    private final long stallNanos;
    private final BooleanSupplier midRequest;
    private final BooleanSupplier working;
    private ChannelHandlerContext ctx;
    private ScheduledFuture<?> tick;
    /** Last time a request or a part arrived whole, a request ran, or a reply was being sent. */
    private long lastActive;
    /** Last time a byte arrived, or the connection was not in the middle of a request or not reading. */
    private long lastRead;
    /** Last time a queued reply byte left, or none was queued. */
    private long lastWritten;
    private long lastPending;
    private int lastCurrent;
    private long lastProgress;

    /**
     * @param midRequest whether a request is partly received (header or payload bytes missing)
     * @param working    whether a request is running or waiting to start (not counting one still arriving)
     */
    ConnectionTimeouts(Connection conn, Limits limits, BooleanSupplier midRequest, BooleanSupplier working) {
        this.conn = conn;
        this.idleNanos = limits.idleTimeout().toNanos();
        this.stallNanos = limits.stallTimeout().toNanos();
        this.midRequest = midRequest;
        this.working = working;
    }

    /** Whether the limits ask for either timeout. */
    static boolean wanted(Limits limits) {
        return !limits.idleTimeout().isZero() || !limits.stallTimeout().isZero();
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
        long now = System.nanoTime();
        lastActive = now;
        lastRead = now;
        lastWritten = now;
        long shortest = Math.min(idleNanos == 0 ? Long.MAX_VALUE : idleNanos,
                stallNanos == 0 ? Long.MAX_VALUE : stallNanos);
        long period = Math.max(MIN_TICK_NANOS, Math.min(MAX_TICK_NANOS, shortest / 4));
        tick = ctx.executor().scheduleAtFixedRate(this::check, period, period, TimeUnit.NANOSECONDS);
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        cancel();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        cancel();
        ctx.fireChannelInactive();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        lastRead = System.nanoTime();
        ctx.fireChannelRead(msg);
    }

    /** A request, or a part of a streamed write's payload, arrived whole. */
    void arrived() {
        lastActive = System.nanoTime();
    }

    private void cancel() {
        if (tick != null) {
            tick.cancel(false);
            tick = null;
        }
    }

    private void check() {
        if (!ctx.channel().isActive()) {
            cancel();
            return;
        }
        long now = System.nanoTime();
        long pending = observeWrites(now);
        if (pending > 0 || working.getAsBoolean()) {
            lastActive = now;
        }
        if (!ctx.channel().config().isAutoRead() || !midRequest.getAsBoolean()) {
            lastRead = now;
        }
        if (stallNanos > 0 && now - lastWritten >= stallNanos) {
            close("stalled: " + pending + " reply bytes not read by the peer for " + millis(now - lastWritten)
                    + " ms (--stall-timeout)");
        } else if (stallNanos > 0 && now - lastRead >= stallNanos) {
            close("stalled: a request partly received and no byte for " + millis(now - lastRead)
                    + " ms (--stall-timeout)");
        } else if (idleNanos > 0 && now - lastActive >= idleNanos) {
            close("idle for " + millis(now - lastActive) + " ms (--idle-timeout)");
        }
    }

    /**
     * Notes whether queued reply bytes left since the last look, as {@code IdleStateHandler}'s observeOutput does: the
     * message being written changed, more of it was written, or fewer bytes are queued. Returns the bytes queued.
     */
    private long observeWrites(long now) {
        ChannelOutboundBuffer out = ctx.channel().unsafe().outboundBuffer();
        long pending = out == null ? 0 : out.totalPendingWriteBytes();
        if (pending == 0) {
            lastWritten = now;
        } else {
            int current = System.identityHashCode(out.current());
            long progress = out.currentProgress();
            if (pending < lastPending || current != lastCurrent || progress != lastProgress) {
                lastWritten = now;
            }
            lastCurrent = current;
            lastProgress = progress;
        }
        lastPending = pending;
        return pending;
    }

    private static long millis(long nanos) {
        return TimeUnit.NANOSECONDS.toMillis(nanos);
    }

    private void close(String reason) {
        cancel();
        log.info("[{}] {}: closing, {}", conn.id(), NbdString.printable(conn.peer()), reason);
        ctx.close();
    }
}
