package dev.rbd.server.handshake;

import dev.rbd.protocol.NbdReplyType;
import dev.rbd.protocol.OptionReply;
import dev.rbd.protocol.RbdSession;
import dev.rbd.server.export.Connection;
import dev.rbd.server.export.Export;
import dev.rbd.server.export.Fenced;
import dev.rbd.server.export.Fencing;
import dev.rbd.server.export.ServerContext;
import dev.rbd.server.export.SyncMode;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import java.util.concurrent.CompletableFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * rbd's session option (see {@link RbdSession}) for one connection: registers it on its session's slot through
 * {@link Fencing}, which fences the slot's older connection, and only then answers, with whether this export's
 * write acks are durable.
 */
final class SessionOption {
    private static final Logger log = LoggerFactory.getLogger(SessionOption.class);

    private final ServerContext server;
    private final Connection conn;
    private Export export;

    SessionOption(ServerContext server, Connection conn) {
        this.server = server;
        this.conn = conn;
    }

    /** The export the session was opened for, or {@code null} before the option was accepted. */
    Export export() {
        return export;
    }

    /**
     * Answers the option. Returns {@code null} when it is answered already, else a future that completes on the
     * channel's executor once the older connection is fenced and the answer written.
     */
    CompletableFuture<Void> handle(ChannelHandlerContext ctx, int code, ByteBuf data) {
        RbdSession.Request r = RbdSession.Request.decode(data);
        if (r == null) {
            OptionErrors.send(ctx, conn, code, NbdReplyType.ERR_INVALID, "malformed rbd session option");
            return null;
        }
        if (export != null) {
            OptionErrors.send(ctx, conn, code, NbdReplyType.ERR_INVALID, "the rbd session option was already sent");
            return null;
        }
        Admission.Found found = Admission.lookup(server, conn, "rbd session option", r.export());
        Admission.Refusal refusal = found.refusal();
        Export e = found.export();
        if (refusal != null) {
            OptionErrors.send(ctx, conn, code, refusal.type(), refusal.message());
            return null;
        }
        Fencing.TakeOver t = Fencing.takeOver(e, r.session(), r.slot(), r.epoch(), conn);
        if (t.refusal() != null) {
            log.warn("[{}] {}: rbd session refused: {}", conn.id(), conn.who(), t.refusal());
            OptionErrors.send(ctx, conn, code, NbdReplyType.ERR_POLICY, t.refusal());
            return null;
        }
        export = e;
        conn.session(r.session());
        conn.readOnly(r.readOnlyIntent());
        int flags = (e.syncMode() == SyncMode.ALWAYS ? RbdSession.ACKS_DURABLE : 0)
                | (e.readOnly() ? RbdSession.EXPORT_READ_ONLY : 0);
        if (t.fenced().isDone() && !t.fenced().isCompletedExceptionally()) {
            reply(ctx, code, flags, t.fenced().join());
            return null;
        }
        CompletableFuture<Void> answered = new CompletableFuture<>();
        t.fenced().whenComplete((f, x) -> ctx.executor().execute(() -> {
            answered.complete(null);
            if (!ctx.channel().isActive()) {
                return;
            }
            if (x != null) {
                OptionErrors.send(ctx, conn, code, NbdReplyType.ERR_PLATFORM, "fencing the old connection failed: "
                        + x);
                return;
            }
            reply(ctx, code, flags, f);
        }));
        return answered;
    }

    private void reply(ChannelHandlerContext ctx, int code, int flags, Fenced f) {
        ctx.write(new OptionReply(code, RbdSession.REPLY, new RbdSession.Reply(flags, server.instance(),
                f.finished(), f.discarded()).encode()));
        ctx.writeAndFlush(OptionReply.ack(code));
    }
}
