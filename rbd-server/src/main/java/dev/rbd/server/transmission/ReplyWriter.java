package dev.rbd.server.transmission;

import dev.rbd.protocol.NbdCommand;
import dev.rbd.protocol.NbdError;
import dev.rbd.protocol.NbdSimpleReply;
import dev.rbd.protocol.NbdStructuredReply;
import dev.rbd.server.export.Connection;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Turns outcomes into simple or structured replies and writes them, with one flush for every reply that
 * completed in the same turn of the event loop. Event loop only.
 */
final class ReplyWriter {
    private static final Logger log = LoggerFactory.getLogger(ReplyWriter.class);

    private final ChannelHandlerContext ctx;
    private final Connection conn;
    private final String export;
    private final boolean structured;
    private final Runnable flush = this::flush;
    private boolean flushPending;

    ReplyWriter(ChannelHandlerContext ctx, Connection conn, String export, boolean structured) {
        this.ctx = ctx;
        this.conn = conn;
        this.export = export;
        this.structured = structured;
    }

    /** Writes the reply to one request; takes ownership of the outcome's data. */
    void write(NbdCommand cmd, long cookie, long offset, Outcome o) {
        Channel ch = ctx.channel();
        if (!ch.isActive()) {
            if (o.data() != null) {
                o.data().release();
            }
            return;
        }
        Object msg;
        if (o.ok()) {
            if (cmd == NbdCommand.READ && structured) {
                msg = o.data().isReadable() ? NbdStructuredReply.offsetData(cookie, offset, o.data(), true)
                        : releaseAnd(o, NbdStructuredReply.done(cookie));
            } else if (cmd == NbdCommand.READ) {
                msg = new NbdSimpleReply(cookie, 0, o.data());
            } else {
                msg = NbdSimpleReply.ok(cookie);
            }
        } else {
            log.debug("[{}] {} cookie {} -> {}: {}", conn.id(), cmd, cookie, o.error(), o.message());
            if (o.error() == NbdError.EIO) {
                log.warn("[{}] export {}: {} failed: {}", conn.id(), export, cmd, o.message());
            }
            msg = structured ? NbdStructuredReply.error(cookie, o.error(), o.message())
                    : NbdSimpleReply.error(cookie, o.error());
        }
        ctx.write(msg, ctx.voidPromise());
        // Coalesce: one flush after every reply that completed in this turn of the event loop.
        if (!flushPending) {
            flushPending = true;
            ch.eventLoop().execute(flush);
        }
    }

    private void flush() {
        flushPending = false;
        ctx.flush();
    }

    private static Object releaseAnd(Outcome o, Object msg) {
        o.data().release();
        return msg;
    }
}
