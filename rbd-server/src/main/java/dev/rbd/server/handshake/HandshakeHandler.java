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
import dev.rbd.protocol.ServerGreeting;
import dev.rbd.protocol.codec.ServerTransmissionCodec;
import dev.rbd.server.export.BlockSizes;
import dev.rbd.server.export.Connection;
import dev.rbd.server.export.Export;
import dev.rbd.server.export.ServerContext;
import dev.rbd.server.export.StatusContext;
import dev.rbd.server.transmission.TransmissionHandler;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelPipeline;
import java.io.IOException;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The fixed-newstyle handshake, server side. Sends the greeting, answers options one at a time, and on GO or
 * EXPORT_NAME replaces itself (and the handshake codecs) with the transmission handlers. Unknown options get
 * {@code ERR_UNSUP} and negotiation continues; a client that does not finish in time is dropped. STARTTLS and
 * {@code --tls require} are {@link StartTls}'s.
 *
 * <pre>
 *   AWAIT_FLAGS --client flags--> OPTIONS --GO / EXPORT_NAME--> DONE (replaced by the transmission handlers)
 *                                  |    ^
 *                   RBD_SESSION    v    |  the older connection is fenced, the option answered
 *                                 FENCING
 * </pre>
 * While fencing, further options are still answered: a client waits for the session reply before it sends more.
 */
public final class HandshakeHandler extends ChannelInboundHandlerAdapter {
    private static final Logger log = LoggerFactory.getLogger(HandshakeHandler.class);
    public static final String DECODER = "handshake-decoder";
    public static final String ENCODER = "handshake-encoder";
    /**
     * Options one handshake may send. A client sends a few per export it asks about, and a server has a few exports;
     * the cap bounds what one connection can make the server do before it has an export.
     */
    public static final int MAX_OPTIONS = 64;

    private enum State {
        /** The greeting is sent; the client's flags come next. */
        AWAIT_FLAGS,
        /** Options are answered one at a time. */
        OPTIONS,
        /** The rbd session option waits for the slot's older connection to be fenced. */
        FENCING,
        /** GO or EXPORT_NAME succeeded: the transmission handlers took over. */
        DONE
    }

    private final ServerContext server;
    private final Connection conn;
    private SessionOption session;
    private MetaContextOption metaContexts;
    private final StartTls tls;
    private State state = State.AWAIT_FLAGS;
    private final HandshakeTimeout timeout = new HandshakeTimeout();
    private boolean noZeroes;
    private boolean structured;
    /** Why this connection is refused (the server is at a connection limit), or {@code null}. */
    private final String refusal;
    private int options;
    /** A final refusal is on its way: nothing more is answered. */
    private boolean closing;

    public HandshakeHandler(ServerContext server, Connection conn) {
        this(server, conn, null);
    }

    /**
     * @param refusal when not {@code null}, the client is greeted and its first option answered with
     *                {@code ERR_POLICY} and this text, then the connection is closed
     */
    public HandshakeHandler(ServerContext server, Connection conn, String refusal) {
        this.server = server;
        this.conn = conn;
        this.session = new SessionOption(server, conn);
        this.metaContexts = new MetaContextOption(server, conn);
        this.tls = new StartTls(server.tls(), conn);
        this.refusal = refusal;
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        log.debug("[{}] connection from {}", conn.id(), conn.peer());
        timeout.start(ctx, conn, server.handshakeTimeout());
        ctx.writeAndFlush(new ServerGreeting(NbdConstants.FLAG_FIXED_NEWSTYLE | NbdConstants.FLAG_NO_ZEROES));
        ctx.fireChannelActive();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        timeout.cancel();
        if (refusal == null) {
            log.info("[{}] closed peer={} during handshake after {} ms", conn.id(), conn.peer(), conn.ageMillis());
        } else {
            // refusals are logged, rate-limited, where they are decided
            log.debug("[{}] closed peer={} (refused)", conn.id(), conn.peer());
        }
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
        state = State.OPTIONS;
        noZeroes = f.noZeroes();
    }

    private void onOption(ChannelHandlerContext ctx, OptionRequest o) {
        if (state == State.AWAIT_FLAGS) {
            ctx.close();
            return;
        }
        if (closing) {
            return;
        }
        int code = o.option();
        if (refusal != null) {
            refuseAndClose(ctx, code, refusal);
            return;
        }
        if (tls.handshaking(ctx)) {
            // not reachable through the TLS layer, which passes nothing on before its handshake is done
            log.debug("[{}] option {} during the TLS handshake, ignored", conn.id(), NbdOption.describe(code));
            return;
        }
        if (++options > MAX_OPTIONS) {
            log.warn("[{}] {}: more than {} options, closing", conn.id(), conn.peer(), MAX_OPTIONS);
            refuseAndClose(ctx, code, "too many options");
            return;
        }
        NbdOption option = NbdOption.fromCode(code);
        ByteBuf data = o.content();
        log.debug("[{}] option {} ({} bytes)", conn.id(), NbdOption.describe(code), data.readableBytes());
        if (tls.refuse(ctx, code)) {
            return;
        }
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
            case LIST_META_CONTEXT, SET_META_CONTEXT -> metaContexts.handle(ctx, option, data, structured);
            case RBD_SESSION -> session(ctx, code, data);
            case STARTTLS -> startTls(ctx, code, data);
            default -> error(ctx, code, NbdReplyType.ERR_UNSUP, option + " is not supported by this server");
        }
    }

    private void exportName(ChannelHandlerContext ctx, ByteBuf data) {
        // EXPORT_NAME has no error reply: on failure the server can only close the connection.
        String name = NbdString.decode(data);
        Admission.Found found = Admission.lookup(server, conn, "EXPORT_NAME", name);
        Admission.Refusal refusal = found.refusal();
        Export export = found.export();
        String why = refusal != null ? refusal.message() : Admission.claim(export, conn);
        if (why != null) {
            if (refusal == null || !refusal.logged()) {
                log.warn("[{}] {}: EXPORT_NAME refused: {}; closing", conn.id(), conn.peer(), why);
            }
            ctx.close();
            return;
        }
        Export served = serve(export);
        if (served == null) {
            ctx.close();
            return;
        }
        ctx.write(new ExportNameReply(served.size(), served.transmissionFlags(false, conn.readOnly()), noZeroes));
        enterTransmission(ctx, served, false, List.of());
    }

    private void list(ChannelHandlerContext ctx, int code, ByteBuf data) {
        if (data.isReadable()) {
            error(ctx, code, NbdReplyType.ERR_INVALID, "LIST takes no data");
            return;
        }
        for (Export e : server.exports()) {
            if (Admission.listed(e, conn)) {
                ctx.write(serverReply(code, e));
            }
        }
        ctx.writeAndFlush(OptionReply.ack(code));
    }

    /** LIST's SERVER reply for one export (data: see {@link ListEntry}). */
    private static OptionReply serverReply(int code, Export e) {
        return new OptionReply(code, NbdReplyType.SERVER.code(), new ListEntry(e.name(), e.description()).encode());
    }

    private void infoOrGo(ChannelHandlerContext ctx, NbdOption option, ByteBuf data) {
        int code = option.code();
        InfoRequest request;
        try {
            request = InfoRequest.decode(data);
        } catch (NbdProtocolException malformed) {
            error(ctx, code, NbdReplyType.ERR_INVALID, malformed.getMessage());
            return;
        }
        Admission.Found found = Admission.lookup(server, conn, option.name(), request.name());
        Admission.Refusal refusal = found.refusal();
        Export export = found.export();
        if (refusal == null && option == NbdOption.GO) {
            refusal = Admission.open(export, session.export(), conn);
            if (refusal != null && refusal.type() == NbdReplyType.ERR_POLICY) {
                log.warn("[{}] {}: GO refused: {}", conn.id(), conn.peer(), refusal.message());
            }
        }
        if (refusal != null) {
            error(ctx, code, refusal.type(), refusal.message());
            return;
        }
        Export served = export;
        if (option == NbdOption.GO) {
            served = serve(export);
            if (served == null) {
                error(ctx, code, NbdReplyType.ERR_UNKNOWN, "export '" + NbdString.printable(request.name())
                        + "' is not available: its " + (export.temporaryOverlays() ? "temporary overlay cannot be made"
                        : "overlay was closed meanwhile; try again") + " (the server's log says why)");
                return;
            }
        }
        writeInfoReplies(ctx, code, served, request.requests(NbdInfo.NAME), request.requests(NbdInfo.DESCRIPTION));
        if (option == NbdOption.INFO) {
            ctx.writeAndFlush(OptionReply.ack(code));
            return;
        }
        ctx.write(OptionReply.ack(code));
        enterTransmission(ctx, served, structured, structured ? metaContexts.selectedFor(request.name()) : List.of());
    }

    /**
     * What the connection is served of an export it may open: the export itself, or for one with temporary overlays
     * a fresh overlay of its own, which the transmission handler closes when the connection ends; {@code null},
     * logged, when that overlay cannot be made.
     */
    private Export serve(Export export) {
        if (!export.temporaryOverlays()) {
            if (export.connectionStarted()) {
                return export;
            }
            // a client's overlay, closed as unused after this connection looked it up
            Admission.release(export, conn);
            log.warn("[{}] export {}: closed while the handshake went on", conn.id(), export.name());
            return null;
        }
        try {
            return export.openTemporaryOverlay();
        } catch (IOException | RuntimeException e) {
            log.error("[{}] export {}: cannot make a temporary overlay: {}", conn.id(), export.name(), e.toString());
            return null;
        }
    }

    /** The INFO replies of INFO and GO: EXPORT, NAME and DESCRIPTION when asked, and BLOCK_SIZE. */
    private void writeInfoReplies(ChannelHandlerContext ctx, int code, Export export, boolean wantName,
                                  boolean wantDescription) {
        int flags = export.transmissionFlags(structured, conn.readOnly());
        ctx.write(info(code, new InfoReply.Export(export.size(), flags)));
        if (wantName) {
            ctx.write(info(code, new InfoReply.Name(export.name())));
        }
        if (wantDescription) {
            ctx.write(info(code, new InfoReply.Description(export.description())));
        }
        // Sent even when not asked: our constraints are the portable defaults, so clients that ignore it are fine.
        BlockSizes sizes = export.blockSizes();
        ctx.write(info(code, new InfoReply.BlockSize(sizes.minimum(), sizes.preferred(), sizes.maxPayload())));
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

    /** rbd's session option: see {@link SessionOption}; FENCING until the older connection is fenced. */
    private void session(ChannelHandlerContext ctx, int code, ByteBuf data) {
        CompletableFuture<Void> answered = session.handle(ctx, code, data);
        if (answered != null) {
            state = State.FENCING;
            answered.thenRun(() -> {
                if (state == State.FENCING) {
                    state = State.OPTIONS;
                }
            });
        }
    }

    /** STARTTLS (see {@link StartTls}): once the TLS handshake starts, nothing negotiated before it survives. */
    private void startTls(ChannelHandlerContext ctx, int code, ByteBuf data) {
        if (tls.start(ctx, code, data, session.export() != null)) {
            structured = false;
            options = 0;
            session = new SessionOption(server, conn);
            metaContexts = new MetaContextOption(server, conn);
        }
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (!tls.handshakeEvent(ctx, evt, timeout.fired())) {
            ctx.fireUserEventTriggered(evt);
        }
    }

    /** Answers the option with {@code ERR_POLICY} and closes once the reply is written. */
    private void refuseAndClose(ChannelHandlerContext ctx, int option, String message) {
        closing = true;
        timeout.cancel();
        ctx.writeAndFlush(OptionReply.error(option, NbdReplyType.ERR_POLICY, message))
                .addListener(ChannelFutureListener.CLOSE);
    }

    private void error(ChannelHandlerContext ctx, int option, NbdReplyType type, String message) {
        OptionErrors.send(ctx, conn, option, type, message);
    }

    private void enterTransmission(ChannelHandlerContext ctx, Export export, boolean structuredReplies,
                                   List<StatusContext> contexts) {
        timeout.cancel();
        state = State.DONE;
        ChannelPipeline p = ctx.pipeline();
        p.addAfter(DECODER, "transmission-codec", new ServerTransmissionCodec(export.blockSizes().maxPayload()));
        p.addAfter("transmission-codec", "transmission",
                new TransmissionHandler(server, export, conn, structuredReplies, contexts));
        ctx.flush();
        p.remove(this);
        p.remove(ENCODER);
        // Removed last: the bytes it still holds (requests sent right behind GO) go on to the transmission codec.
        p.remove(DECODER);
        log.info("[{}] opened peer={} export={} {} structured={} contexts={}", conn.id(), conn.peer(), export.name(),
                export.readOnly() || conn.readOnly() ? "ro" : "rw", structuredReplies, contexts.size());
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (tls.handshakeFailure(cause)) {
            log.debug("[{}] {}: TLS handshake failed: {}", conn.id(), conn.peer(), rootMessage(cause));
            ctx.close();
            return;
        }
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
