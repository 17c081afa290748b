package dev.rbd.server.handshake;

import dev.rbd.protocol.ClientFlags;
import dev.rbd.protocol.ExportNameReply;
import dev.rbd.protocol.InfoReply;
import dev.rbd.protocol.InfoRequest;
import dev.rbd.protocol.ListEntry;
import dev.rbd.protocol.NbdConstants;
import dev.rbd.protocol.NbdInfo;
import dev.rbd.protocol.NbdOption;
import dev.rbd.protocol.NbdProtocolException;
import dev.rbd.protocol.NbdReplyType;
import dev.rbd.protocol.NbdString;
import dev.rbd.protocol.OptionReply;
import dev.rbd.protocol.OptionRequest;
import dev.rbd.protocol.RbdSession;
import dev.rbd.protocol.ServerGreeting;
import dev.rbd.protocol.codec.ServerTransmissionCodec;
import dev.rbd.server.Export;
import dev.rbd.server.ServerContext;
import dev.rbd.server.SyncMode;
import dev.rbd.server.transmission.ConnectionInfo;
import dev.rbd.server.transmission.TransmissionHandler;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelPipeline;
import io.netty.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The fixed-newstyle handshake, server side. Sends the greeting, answers options one at a time, and on GO or
 * EXPORT_NAME replaces itself (and the handshake codecs) with the transmission handlers. Unknown options get
 * {@code ERR_UNSUP} and negotiation continues; a client that does not finish in time is dropped.
 */
public final class HandshakeHandler extends ChannelInboundHandlerAdapter {
    private static final Logger log = LoggerFactory.getLogger(HandshakeHandler.class);
    public static final String DECODER = "handshake-decoder";
    public static final String ENCODER = "handshake-encoder";

    private final ServerContext server;
    private final ConnectionInfo conn;
    private ScheduledFuture<?> timeout;
    private boolean gotFlags;
    private boolean noZeroes;
    private boolean structured;
    private Export sessionExport;

    public HandshakeHandler(ServerContext server, ConnectionInfo conn) {
        this.server = server;
        this.conn = conn;
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        log.debug("[{}] connection from {}", conn.id(), conn.peer());
        long ms = server.handshakeTimeout().toMillis();
        timeout = ctx.executor().schedule(() -> {
            log.info("[{}] {}: handshake not finished in {} ms, closing", conn.id(), conn.peer(), ms);
            ctx.close();
        }, ms, TimeUnit.MILLISECONDS);
        ctx.writeAndFlush(new ServerGreeting(NbdConstants.FLAG_FIXED_NEWSTYLE | NbdConstants.FLAG_NO_ZEROES));
        ctx.fireChannelActive();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        cancelTimeout();
        log.info("[{}] closed peer={} during handshake after {} ms", conn.id(), conn.peer(), conn.ageMillis());
        ctx.fireChannelInactive();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof ClientFlags f) {
            onClientFlags(ctx, f);
        } else if (msg instanceof OptionRequest o) {
            try {
                onOption(ctx, o);
            } finally {
                o.release();
            }
        } else {
            ctx.fireChannelRead(msg);
        }
    }

    private void onClientFlags(ChannelHandlerContext ctx, ClientFlags f) {
        if (f.unknownFlags() != 0) {
            // "the server MUST close the connection" on client flags it does not know
            log.warn("[{}] {}: unknown client flags 0x{}, closing", conn.id(), conn.peer(),
                    Integer.toHexString(f.unknownFlags()));
            ctx.close();
            return;
        }
        gotFlags = true;
        noZeroes = f.noZeroes();
    }

    private void onOption(ChannelHandlerContext ctx, OptionRequest o) {
        if (!gotFlags) {
            ctx.close();
            return;
        }
        int code = o.option();
        NbdOption option = NbdOption.fromCode(code);
        ByteBuf data = o.content();
        log.debug("[{}] option {} ({} bytes)", conn.id(), NbdOption.describe(code), data.readableBytes());
        if (option == null) {
            error(ctx, code, NbdReplyType.ERR_UNSUP, "option " + Integer.toUnsignedString(code) + " is not supported");
            return;
        }
        switch (option) {
            case EXPORT_NAME -> exportName(ctx, data);
            case ABORT -> ctx.writeAndFlush(OptionReply.ack(code)).addListener(ChannelFutureListener.CLOSE);
            case LIST -> list(ctx, code, data);
            case INFO, GO -> infoOrGo(ctx, option, data);
            case STRUCTURED_REPLY -> structuredReply(ctx, code, data);
            case RBD_SESSION -> session(ctx, code, data);
            default -> error(ctx, code, NbdReplyType.ERR_UNSUP, option + " is not supported by this server");
        }
    }

    private void exportName(ChannelHandlerContext ctx, ByteBuf data) {
        // EXPORT_NAME has no error reply: on failure the server can only close the connection.
        String name = NbdString.decode(data);
        Export export = server.export(name);
        String refusal = export == null ? "unknown export '" + name + "'"
                : server.draining() ? "server is shutting down" : export.claim(conn.client());
        if (refusal != null) {
            log.warn("[{}] {}: EXPORT_NAME refused: {}; closing", conn.id(), conn.peer(), refusal);
            ctx.close();
            return;
        }
        ctx.write(new ExportNameReply(export.size(), export.transmissionFlags(false), noZeroes));
        enterTransmission(ctx, export, false);
    }

    private void list(ChannelHandlerContext ctx, int code, ByteBuf data) {
        if (data.isReadable()) {
            error(ctx, code, NbdReplyType.ERR_INVALID, "LIST takes no data");
            return;
        }
        for (Export e : server.exports()) {
            ctx.write(new OptionReply(code, NbdReplyType.SERVER.code(), new ListEntry(e.name(), e.description())
                    .encode()));
        }
        ctx.writeAndFlush(OptionReply.ack(code));
    }

    /** INFO and GO (data: see {@link InfoRequest}). */
    private void infoOrGo(ChannelHandlerContext ctx, NbdOption option, ByteBuf data) {
        int code = option.code();
        InfoRequest request;
        try {
            request = InfoRequest.decode(data);
        } catch (NbdProtocolException e) {
            error(ctx, code, NbdReplyType.ERR_INVALID, e.getMessage());
            return;
        }
        String name = request.name();
        boolean wantName = request.requests(NbdInfo.NAME);
        boolean wantDescription = request.requests(NbdInfo.DESCRIPTION);
        Export export = server.export(name);
        if (export == null) {
            error(ctx, code, NbdReplyType.ERR_UNKNOWN, "unknown export '" + name + "'");
            return;
        }
        if (server.draining()) {
            error(ctx, code, NbdReplyType.ERR_SHUTDOWN, "server is shutting down");
            return;
        }
        if (option == NbdOption.GO && sessionExport != null && sessionExport != export) {
            error(ctx, code, NbdReplyType.ERR_INVALID, "the rbd session was opened for export '"
                    + sessionExport.name() + "', not '" + export.name() + "'");
            return;
        }
        if (option == NbdOption.GO) {
            String refusal = export.claim(conn.client());
            if (refusal != null) {
                log.warn("[{}] {}: GO refused: {}", conn.id(), conn.peer(), refusal);
                error(ctx, code, NbdReplyType.ERR_POLICY, refusal);
                return;
            }
        }
        ctx.write(info(code, new InfoReply.Export(export.size(), export.transmissionFlags(structured))));
        if (wantName) {
            ctx.write(info(code, new InfoReply.Name(export.name())));
        }
        if (wantDescription) {
            ctx.write(info(code, new InfoReply.Description(export.description())));
        }
        // Sent even when not asked: our constraints are the portable defaults, so clients that ignore it are fine.
        ctx.write(info(code, new InfoReply.BlockSize(export.blockSizes().minimum(), export.blockSizes().preferred(),
                export.blockSizes().maxPayload())));
        if (option == NbdOption.INFO) {
            ctx.writeAndFlush(OptionReply.ack(code));
            return;
        }
        ctx.write(OptionReply.ack(code));
        enterTransmission(ctx, export, structured);
    }

    private static OptionReply info(int option, InfoReply info) {
        return new OptionReply(option, NbdReplyType.INFO.code(), info.encode());
    }

    private void structuredReply(ChannelHandlerContext ctx, int code, ByteBuf data) {
        if (data.isReadable()) {
            error(ctx, code, NbdReplyType.ERR_INVALID, "STRUCTURED_REPLY takes no data");
        } else if (structured) {
            error(ctx, code, NbdReplyType.ERR_INVALID, "structured replies are already negotiated");
        } else {
            structured = true;
            ctx.writeAndFlush(OptionReply.ack(code));
        }
    }

    /**
     * rbd's session option (see {@link RbdSession}): registers this connection on its session's slot, fences the
     * slot's older connection, and only then answers, with whether this export's write acks are durable.
     */
    private void session(ChannelHandlerContext ctx, int code, ByteBuf data) {
        RbdSession.Request r = RbdSession.Request.decode(data);
        if (r == null) {
            error(ctx, code, NbdReplyType.ERR_INVALID, "malformed rbd session option");
            return;
        }
        if (sessionExport != null) {
            error(ctx, code, NbdReplyType.ERR_INVALID, "the rbd session option was already sent");
            return;
        }
        Export export = server.export(r.export());
        if (export == null) {
            error(ctx, code, NbdReplyType.ERR_UNKNOWN, "unknown export '" + r.export() + "'");
            return;
        }
        if (server.draining()) {
            error(ctx, code, NbdReplyType.ERR_SHUTDOWN, "server is shutting down");
            return;
        }
        Export.Registration reg = export.register(r.session(), r.slot(), r.epoch(), conn);
        if (reg.refusal() != null) {
            log.warn("[{}] {}: rbd session refused: {}", conn.id(), conn.peer(), reg.refusal());
            error(ctx, code, NbdReplyType.ERR_POLICY, reg.refusal());
            return;
        }
        sessionExport = export;
        conn.session(r.session());
        int flags = export.syncMode() == SyncMode.ALWAYS ? RbdSession.ACKS_DURABLE : 0;
        if (reg.fence() == null) {
            log.debug("[{}] session {} slot {} epoch {}", conn.id(), r.session(), r.slot(),
                    Long.toUnsignedString(r.epoch()));
            ctx.write(new OptionReply(code, RbdSession.REPLY, new RbdSession.Reply(flags, server.instance(), 0, 0)
                    .encode()));
            ctx.writeAndFlush(OptionReply.ack(code));
            return;
        }
        ConnectionInfo old = reg.fence();
        log.info("[{}] session {} slot {} epoch {} -> {}: fencing connection [{}]", conn.id(), r.session(),
                r.slot(), Long.toUnsignedString(reg.previousEpoch()), Long.toUnsignedString(r.epoch()), old.id());
        old.fence().whenComplete((f, e) -> ctx.executor().execute(() -> {
            if (!ctx.channel().isActive()) {
                return;
            }
            if (e != null) {
                error(ctx, code, NbdReplyType.ERR_PLATFORM, "fencing the old connection failed: " + e);
                return;
            }
            log.info("[{}] connection [{}] fenced: {} request(s) finished, {} discarded", conn.id(), old.id(),
                    f.finished(), f.discarded());
            ctx.write(new OptionReply(code, RbdSession.REPLY, new RbdSession.Reply(flags, server.instance(),
                    f.finished(), f.discarded()).encode()));
            ctx.writeAndFlush(OptionReply.ack(code));
        }));
    }

    private void error(ChannelHandlerContext ctx, int option, NbdReplyType type, String message) {
        log.debug("[{}] {} -> {}: {}", conn.id(), NbdOption.describe(option), type, message);
        ctx.writeAndFlush(OptionReply.error(option, type, message));
    }

    private void enterTransmission(ChannelHandlerContext ctx, Export export, boolean structuredReplies) {
        cancelTimeout();
        conn.attach(export);
        ChannelPipeline p = ctx.pipeline();
        p.addAfter(DECODER, "transmission-codec", new ServerTransmissionCodec(export.blockSizes().maxPayload()));
        p.addAfter("transmission-codec", "transmission",
                new TransmissionHandler(server, export, conn, structuredReplies));
        ctx.flush();
        p.remove(this);
        p.remove(ENCODER);
        // Removed last: the bytes it still holds (requests sent right behind GO) go on to the transmission codec.
        p.remove(DECODER);
        log.info("[{}] opened peer={} export={} {} structured={}", conn.id(), conn.peer(), export.name(),
                export.readOnly() ? "ro" : "rw", structuredReplies);
    }

    private void cancelTimeout() {
        if (timeout != null) {
            timeout.cancel(false);
            timeout = null;
        }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        log.warn("[{}] {}: handshake failed: {}; closing", conn.id(), conn.peer(), rootMessage(cause));
        ctx.close();
    }

    static String rootMessage(Throwable t) {
        Throwable c = t;
        while (c.getCause() != null && c.getCause() != c) {
            c = c.getCause();
        }
        return c.getMessage() != null ? c.getMessage() : c.toString();
    }
}
