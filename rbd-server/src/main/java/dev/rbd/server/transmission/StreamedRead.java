package dev.rbd.server.transmission;

import dev.rbd.protocol.NbdCommand;
import dev.rbd.protocol.NbdError;
import dev.rbd.protocol.codec.RequestDecoder;
import dev.rbd.server.export.Connection;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;

/**
 * A READ too large to hold whole: read and sent one part at a time, the next part read only once the previous has
 * been written to the socket, so a client that does not read holds one part, not the whole read.
 */
final class StreamedRead {
    private final StreamOwner owner;
    private final Dispatcher dispatcher;
    private final Connection conn;
    private final ChannelHandlerContext ctx;
    private final ReplyWriter replies;
    private final long cookie;
    private final long offset;
    private final long length;
    private final long weight;
    private long sent;
    private boolean finished;

    StreamedRead(StreamOwner owner, Dispatcher dispatcher, Connection conn, ChannelHandlerContext ctx,
            ReplyWriter replies, long cookie, long offset, long length, long weight) {
        this.owner = owner;
        this.dispatcher = dispatcher;
        this.conn = conn;
        this.ctx = ctx;
        this.replies = replies;
        this.cookie = cookie;
        this.offset = offset;
        this.length = length;
        this.weight = weight;
    }

    void next() {
        if (sent == 0 && !ctx.channel().isActive()) {
            failed(Outcome.error(NbdError.ESHUTDOWN, "the connection closed"));
            return;
        }
        int n = (int) Math.min(RequestDecoder.FILL_LIMIT, length - sent);
        dispatcher.readPart(offset + sent, n, ctx.alloc()).whenComplete((buf, e) -> owner.onLoop(() -> {
            if (e != null) {
                failed(StoreErrors.toOutcome(e));
            } else {
                arrived(buf, n);
            }
        }));
    }

    private void arrived(ByteBuf buf, int n) {
        if (!ctx.channel().isActive()) {
            buf.release();
            failed(Outcome.error(NbdError.ESHUTDOWN, "the connection closed"));
            return;
        }
        boolean first = sent == 0;
        long at = offset + sent;
        sent += n;
        conn.bytesRead().addAndGet(n);
        ChannelFuture f = replies.writePiece(cookie, at, buf, first, sent == length);
        if (sent == length) {
            f.addListener(x -> owner.released(weight));
            owner.requestDone();
            finish();
        } else {
            f.addListener(x -> {
                if (x.isSuccess()) {
                    next();
                } else {
                    failed(Outcome.error(NbdError.ESHUTDOWN, "the connection closed"));
                }
            });
        }
    }

    private void failed(Outcome o) {
        if (sent == 0) {
            owner.completed(NbdCommand.READ, cookie, offset, weight, o);
            finish();
            return;
        }
        if (replies.structured()) {
            replies.write(NbdCommand.READ, cookie, offset, o, () -> owner.released(weight));
        } else {
            replies.abandonSimpleStream(o.message());
            owner.released(weight);
        }
        owner.requestDone();
        finish();
    }

    private void finish() {
        if (!finished) {
            finished = true;
            owner.streamDone();
        }
    }
}
