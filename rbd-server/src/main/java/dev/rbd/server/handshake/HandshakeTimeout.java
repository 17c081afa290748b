package dev.rbd.server.handshake;

import dev.rbd.server.export.Connection;
import io.netty.channel.ChannelHandlerContext;
import io.netty.util.concurrent.ScheduledFuture;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Drops a client that has not finished its handshake in time, so idle connections cannot pile up. */
final class HandshakeTimeout {
    private static final Logger log = LoggerFactory.getLogger(HandshakeTimeout.class);

    private ScheduledFuture<?> future;
    private boolean fired;

    /** Closes the channel after {@code timeout} unless {@link #cancel()} comes first; on the event loop. */
    void start(ChannelHandlerContext ctx, Connection conn, Duration timeout) {
        long ms = timeout.toMillis();
        future = ctx.executor().schedule(() -> {
            fired = true;
            log.info("[{}] {}: handshake not finished in {} ms, closing", conn.id(), conn.peer(), ms);
            ctx.close();
        }, ms, TimeUnit.MILLISECONDS);
    }

    /** Whether the timeout closed the connection (and logged why). */
    boolean fired() {
        return fired;
    }

    void cancel() {
        if (future != null) {
            future.cancel(false);
            future = null;
        }
    }
}
