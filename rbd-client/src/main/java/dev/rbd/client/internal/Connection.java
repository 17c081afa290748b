package dev.rbd.client.internal;

import dev.rbd.client.NbdErrorException;
import dev.rbd.client.RbdException;
import dev.rbd.protocol.MetaContext;
import dev.rbd.protocol.NbdCommand;
import dev.rbd.protocol.NbdConstants;
import dev.rbd.protocol.NbdError;
import dev.rbd.protocol.NbdProtocolException;
import dev.rbd.protocol.NbdRequest;
import dev.rbd.protocol.NbdSimpleReply;
import dev.rbd.protocol.NbdStructuredReply;
import dev.rbd.protocol.OffsetHole;
import dev.rbd.protocol.codec.ReplyDecoder;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.timeout.IdleState;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.util.ReferenceCountUtil;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * One connection in the transmission phase. Pending requests live in a map keyed by cookie, touched only on the
 * event loop; a request is registered before it is written, replies may come in any order, and a reply for an
 * unknown cookie is a protocol error that ends the connection. Answers go to each request's sink on the event loop:
 * it must not block, and hands the caller's completion to another thread (see {@link Session}).
 */
public final class Connection extends ChannelInboundHandlerAdapter implements ReplyDecoder.ReadLengths {
    private final Channel channel;
    private final Map<Long, Request> pending = new HashMap<>();
    private long nextCookie = 1;
    private boolean flushPending;
    private RbdException closeCause;

    public Connection(Channel channel) {
        this.channel = channel;
    }

    /**
     * Sends a request from any thread; its {@link Request#sink} hears the answer, on the event loop. For a READ,
     * the data lands in its target. The request keeps its payload: the wire gets a duplicate, since writing moves
     * the buffer's reader index and releases what it wrote.
     */
    public void submit(Request r) {
        channel.eventLoop().execute(() -> {
            if (closeCause != null || !channel.isActive()) {
                r.sink.replied(r, channel, new ConnectionLostException("connection is closed; the request was not sent",
                        false, closeCause));
                return;
            }
            long cookie = nextCookie++;
            r.error = null;
            pending.put(cookie, r);
            channel.write(new NbdRequest(r.flags, r.command.code(), cookie, r.offset, r.length,
                    r.payload.retainedDuplicate()), channel.voidPromise());
            // one flush (one syscall) for every request submitted in this turn of the event loop
            if (!flushPending) {
                flushPending = true;
                channel.eventLoop().execute(() -> {
                    flushPending = false;
                    channel.flush();
                });
            }
        });
    }

    /** Requests still waiting for their reply. */
    public CompletableFuture<Integer> inFlight() {
        return CompletableFuture.supplyAsync(pending::size, channel.eventLoop());
    }

    @Override
    public long readLength(long cookie) {
        Request p = pending.get(cookie);
        return p != null && p.command == NbdCommand.READ ? p.length : -1;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        try {
            if (msg instanceof NbdSimpleReply r) {
                onSimpleReply(r);
            } else if (msg instanceof NbdStructuredReply r) {
                onChunk(r);
            }
        } finally {
            ReferenceCountUtil.release(msg);
        }
    }

    private void onSimpleReply(NbdSimpleReply r) {
        Request p = pending.remove(r.cookie());
        if (p == null) {
            protocolError("simple reply for unknown cookie " + Long.toUnsignedString(r.cookie()));
            return;
        }
        if (r.error() != 0) {
            NbdError e = NbdError.fromCode(r.error());
            complete(p, new NbdErrorException(e, p.describe() + " failed: " + e));
            return;
        }
        if (p.command == NbdCommand.READ) {
            r.content().getBytes(r.content().readerIndex(), window(p, 0, p.length));
        }
        complete(p, null);
    }

    private void onChunk(NbdStructuredReply r) {
        Request p = pending.get(r.cookie());
        if (p == null) {
            protocolError("structured reply for unknown cookie " + Long.toUnsignedString(r.cookie()));
            return;
        }
        int type = r.type();
        if (type == NbdConstants.REPLY_TYPE_OFFSET_DATA || type == NbdConstants.REPLY_TYPE_OFFSET_HOLE) {
            long at;
            long n;
            if (type == NbdConstants.REPLY_TYPE_OFFSET_DATA) {
                at = r.offset();
                n = r.content().readableBytes();
            } else {
                OffsetHole hole;
                try {
                    hole = OffsetHole.decode(r.content());
                } catch (NbdProtocolException malformed) {
                    protocolError(malformed.getMessage());
                    return;
                }
                at = hole.offset();
                n = hole.length();
            }
            long rel = at - p.offset;
            if (p.command != NbdCommand.READ || Long.compareUnsigned(at, p.offset) < 0 || rel > p.length
                    || n > p.length - rel) {
                protocolError("read chunk " + Long.toUnsignedString(at) + "+" + n + " outside the request "
                        + Long.toUnsignedString(p.offset) + "+" + p.length);
                return;
            }
            if (type == NbdConstants.REPLY_TYPE_OFFSET_DATA) {
                r.content().getBytes(r.content().readerIndex(), window(p, (int) rel, (int) n));
            } else {
                fillZeroes(window(p, (int) rel, (int) n));
            }
        } else if (type == NbdConstants.REPLY_TYPE_BLOCK_STATUS) {
            MetaContext.BlockStatus s = MetaContext.BlockStatus.decode(r.content());
            if (p.command != NbdCommand.BLOCK_STATUS || s == null) {
                protocolError("BLOCK_STATUS chunk " + (s == null ? "malformed" : "for " + p.describe()));
                return;
            }
            p.extents = s.extents(); // one chunk per context, and only base:allocation was asked for
        } else if (r.isError()) {
            NbdError e = NbdError.fromCode(r.errorCode());
            String m = r.errorMessage();
            p.error = new NbdErrorException(e, p.command + " at " + Long.toUnsignedString(p.offset) + "+" + p.length
                    + " failed: " + e + (m.isEmpty() ? "" : " (" + m + ")"));
        } else if (type != NbdConstants.REPLY_TYPE_NONE) {
            // "unknown type without bit 15: the client MUST hard-disconnect"
            protocolError("unknown structured reply type " + type);
            return;
        }
        if (r.isDone()) {
            pending.remove(r.cookie());
            complete(p, p.error);
        }
    }

    private static final ByteBuffer ZEROES = ByteBuffer.allocateDirect(64 << 10).asReadOnlyBuffer();

    /** {@code n} bytes of a READ's target from {@code rel} bytes into the request (its own position and limit). */
    private static ByteBuffer window(Request p, int rel, int n) {
        ByteBuffer b = p.target.duplicate();
        b.limit(p.targetOffset + rel + n).position(p.targetOffset + rel);
        return b;
    }

    private static void fillZeroes(ByteBuffer b) {
        while (b.hasRemaining()) {
            b.put(ZEROES.duplicate().limit(Math.min(ZEROES.capacity(), b.remaining())));
        }
    }

    private void protocolError(String message) {
        if (closeCause == null) {
            closeCause = new RbdException("protocol error from server: " + message);
        }
        channel.close();
    }

    private void complete(Request p, RbdException e) {
        p.sink.replied(p, channel, e);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        if (closeCause == null) {
            closeCause = new RbdException("connection closed");
        }
        List<Request> lost = new ArrayList<>(pending.values());
        pending.clear();
        for (Request p : lost) {
            complete(p, new ConnectionLostException(p.describe() + " was sent but not answered before "
                    + closeCause.getMessage(), true, closeCause));
        }
        ctx.fireChannelInactive();
    }

    /** Reader idle for the I/O timeout while requests wait: the server or the path to it is gone. */
    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof IdleStateEvent e && e.state() == IdleState.READER_IDLE && !pending.isEmpty()) {
            if (closeCause == null) {
                closeCause = new RbdException("I/O timeout: no reply to " + pending.size() + " request(s)");
            }
            channel.close();
            return;
        }
        ctx.fireUserEventTriggered(evt);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        protocolError(cause.getMessage() != null ? cause.getMessage() : cause.toString());
    }

    public Channel channel() {
        return channel;
    }
}
