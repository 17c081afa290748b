package dev.rbd.server.transmission;

import dev.rbd.protocol.NbdCommand;
import dev.rbd.protocol.NbdError;
import dev.rbd.protocol.NbdSimpleReply;
import dev.rbd.protocol.NbdStructuredReply;
import dev.rbd.server.export.Connection;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import java.util.ArrayDeque;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Turns outcomes into simple or structured replies and writes them, with one flush for every reply that
 * completed in the same turn of the event loop, and says when each has left for the socket (so its bytes stop
 * counting against the connection). A streamed read's data goes out in pieces; while a simple reply is streamed,
 * other replies wait behind it, since simple replies cannot interleave. Event loop only.
 */
final class ReplyWriter {
    private static final Logger log = LoggerFactory.getLogger(ReplyWriter.class);

    private final ChannelHandlerContext ctx;
    private final Connection conn;
    private final String export;
    private final boolean structured;
    private final Runnable flush = this::flush;
    private boolean flushPending;
    /** A simple reply's data is being streamed: other replies are held until its last piece. */
    private boolean streamingSimple;
    private final ArrayDeque<Held> held = new ArrayDeque<>();

    private record Held(Object msg, Runnable written) {
    }

    ReplyWriter(ChannelHandlerContext ctx, Connection conn, String export, boolean structured) {
        this.ctx = ctx;
        this.conn = conn;
        this.export = export;
        this.structured = structured;
    }

    /**
     * Writes the reply to one request; takes ownership of the outcome's data. {@code written} runs once the reply has
     * been written to the socket or has failed to be (the connection closed), on the event loop.
     */
    void write(NbdCommand cmd, long cookie, long offset, Outcome o, Runnable written) {
        Channel ch = ctx.channel();
        if (!ch.isActive()) {
            if (o.data() != null) {
                o.data().release();
            }
            written.run();
            return;
        }
        Object msg;
        if (o.ok() && cmd == NbdCommand.BLOCK_STATUS) {
            // structured, as the dispatcher answers BLOCK_STATUS only then: one chunk per context, DONE on the last
            List<NbdStructuredReply> chunks = BlockStatusReplies.chunks(cookie, o.data());
            for (int i = 0; i < chunks.size(); i++) {
                Runnable done = i == chunks.size() - 1 ? written : () -> { };
                if (streamingSimple) {
                    held.add(new Held(chunks.get(i), done));
                } else {
                    emit(chunks.get(i), done);
                }
            }
            return;
        }
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
        if (streamingSimple) {
            held.add(new Held(msg, written));
        } else {
            emit(msg, written);
        }
    }

    private void emit(Object msg, Runnable written) {
        ChannelPromise p = ctx.newPromise();
        p.addListener(f -> written.run());
        ctx.write(msg, p);
        scheduleFlush();
    }

    /**
     * Writes one piece of a streamed read's data (taking ownership of it): an OFFSET_DATA chunk of a structured reply,
     * DONE on the last; of a simple reply, the header with the first piece and the bare data after it. The future
     * completes once the piece has been written to the socket.
     */
    ChannelFuture writePiece(long cookie, long offset, ByteBuf data, boolean first, boolean last) {
        Object msg;
        if (structured) {
            msg = NbdStructuredReply.offsetData(cookie, offset, data, last);
        } else {
            msg = first ? new NbdSimpleReply(cookie, 0, data) : data;
            streamingSimple = !last;
        }
        ChannelPromise p = ctx.newPromise();
        ctx.write(msg, p);
        scheduleFlush();
        if (!streamingSimple) {
            releaseHeld();
        }
        return p;
    }

    /**
     * A streamed simple reply that cannot be finished (its header already said success): the only way to tell the
     * client is to close the connection, as the spec says. The replies held behind it go nowhere.
     */
    void abandonSimpleStream(String why) {
        if (ctx.channel().isActive()) {
            log.warn("[{}] export {}: a streamed read failed after its reply began ({}); closing the connection",
                    conn.id(), export, why);
        }
        streamingSimple = false;
        ctx.close();
        releaseHeld();
    }

    boolean structured() {
        return structured;
    }

    private void releaseHeld() {
        Held h;
        while (!streamingSimple && (h = held.poll()) != null) {
            emit(h.msg(), h.written());
        }
    }

    // Coalesce: one flush after every reply that completed in this turn of the event loop.
    private void scheduleFlush() {
        if (!flushPending) {
            flushPending = true;
            ctx.channel().eventLoop().execute(flush);
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
