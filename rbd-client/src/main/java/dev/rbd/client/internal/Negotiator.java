package dev.rbd.client.internal;

import dev.rbd.client.ExportEntry;
import dev.rbd.client.ExportInfo;
import dev.rbd.client.OptionRefusedException;
import dev.rbd.client.PolicyRefusedException;
import dev.rbd.client.RbdException;
import dev.rbd.client.TlsFailedException;
import dev.rbd.client.UnknownExportException;
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
import dev.rbd.protocol.MetaContext;
import dev.rbd.protocol.RbdSession;
import dev.rbd.protocol.ServerGreeting;
import dev.rbd.protocol.codec.ClientHandshakeDecoder;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.ssl.SslHandler;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * The fixed-newstyle handshake, client side: with TLS asked for, STARTTLS first and everything else inside TLS, never
 * in plaintext after a refusal (CVE-2019-14842 was nbd-client going on without TLS); then asks for structured
 * replies, sends rbd's session option when given one (a server that does not know it answers ERR_UNSUP and the
 * connection goes on without fencing), then GO with the export's description and block sizes (falling back to
 * EXPORT_NAME for servers without GO); or, in list mode, LIST then ABORT.
 */
public final class Negotiator extends ChannelInboundHandlerAdapter {
    public static final String DECODER = "handshake-decoder";
    public static final String ENCODER = "handshake-encoder";

    /** The TLS handler's name: first in the pipeline, before the handshake and transmission codecs. */
    public static final String TLS = "tls";

    private enum Step {
        GREETING, STARTTLS, TLS_HANDSHAKE, STRUCTURED_REPLY, META_CONTEXT, SESSION, GO, EXPORT_NAME, LIST, DONE
    }

    private final String export;
    private final boolean list;
    /** TLS to start before any other option, or {@code null} for plaintext. */
    private final StartTls tls;
    /** The URI, for the failures' messages. */
    private final String uri;
    private final RbdSession.Request session;
    private RbdSession.Reply sessionReply;
    /** Whether to ask for base:allocation (for BLOCK_STATUS), and whether the server gave it. */
    private final boolean allocation;
    private boolean allocationGiven;
    private final CompletableFuture<ExportInfo> info = new CompletableFuture<>();
    private final CompletableFuture<List<ExportEntry>> entries = new CompletableFuture<>();
    private final List<ExportEntry> listed = new ArrayList<>();
    private Step step = Step.GREETING;
    /**
     * Between the end of the TLS handshake and the server's first reply inside it: under TLS 1.3 a server that refuses
     * our certificate (or wants one we do not have) says so only now, with an alert or by closing.
     */
    private boolean firstReplyInTls;
    private boolean noZeroes;
    private boolean structured;
    private long size = -1;
    private int flags;
    private String description = "";
    private int minBlock = 1;
    private int preferredBlock = 4096;
    private int maxPayload = NbdConstants.PORTABLE_MAX_PAYLOAD;

    private Negotiator(String export, boolean list, RbdSession.Request session, boolean allocation, StartTls tls,
                       String uri) {
        this.export = export;
        this.list = list;
        this.tls = tls;
        this.uri = uri;
        this.session = session;
        this.allocation = allocation;
    }

    /**
     * Negotiates the export; {@link #info()} completes on the event loop once transmission may begin.
     *
     * @param session    rbd's session option to send, or {@code null}
     * @param allocation ask also for the {@code base:allocation} metadata context (where structured replies were
     *                   agreed), so BLOCK_STATUS can be used
     * @param tls        TLS to start first, or {@code null}
     * @param uri        the server's URI, for messages
     */
    public static Negotiator forExport(String export, RbdSession.Request session, boolean allocation, StartTls tls,
                                       String uri) {
        return new Negotiator(export, false, session, allocation, tls, uri);
    }

    /** Lists the server's exports, then aborts. */
    public static Negotiator forList(StartTls tls, String uri) {
        return new Negotiator("", true, null, false, tls, uri);
    }

    /** The server instance from rbd's session reply, 0 when the server did not send one. */
    public long serverInstance() {
        return sessionReply != null ? sessionReply.serverInstance() : 0;
    }

    public CompletableFuture<ExportInfo> info() {
        return info;
    }

    public CompletableFuture<List<ExportEntry>> entries() {
        return entries;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        try {
            if (msg instanceof ServerGreeting g) {
                onGreeting(ctx, g);
            } else if (msg instanceof OptionReply r) {
                onOptionReply(ctx, r);
            } else if (msg instanceof ExportNameReply e) {
                size = e.size();
                flags = e.transmissionFlags();
                finish(ctx);
            }
        } finally {
            io.netty.util.ReferenceCountUtil.release(msg);
        }
    }

    private void onGreeting(ChannelHandlerContext ctx, ServerGreeting g) {
        if ((g.handshakeFlags() & NbdConstants.FLAG_FIXED_NEWSTYLE) == 0) {
            // without fixed newstyle there is no STARTTLS: with TLS asked for, that is the end
            fail(ctx, tls != null ? tlsFailed("server does not support TLS (no fixed-newstyle handshake)", null)
                    : new RbdException("server does not speak the fixed-newstyle handshake"));
            return;
        }
        noZeroes = (g.handshakeFlags() & NbdConstants.FLAG_NO_ZEROES) != 0;
        ctx.write(new ClientFlags(NbdConstants.FLAG_C_FIXED_NEWSTYLE | (noZeroes ? NbdConstants.FLAG_C_NO_ZEROES : 0)));
        if (tls != null) {
            step = Step.STARTTLS;
            ctx.writeAndFlush(new OptionRequest(NbdOption.STARTTLS.code(), Unpooled.EMPTY_BUFFER));
        } else {
            begin(ctx);
        }
    }

    /** The first option after the client flags, or after the TLS handshake. */
    private void begin(ChannelHandlerContext ctx) {
        firstReplyInTls = tls != null;
        if (list) {
            step = Step.LIST;
            ctx.writeAndFlush(new OptionRequest(NbdOption.LIST.code(), Unpooled.EMPTY_BUFFER));
        } else {
            step = Step.STRUCTURED_REPLY;
            ctx.writeAndFlush(new OptionRequest(NbdOption.STRUCTURED_REPLY.code(), Unpooled.EMPTY_BUFFER));
        }
    }

    private void onOptionReply(ChannelHandlerContext ctx, OptionReply r) {
        NbdReplyType type = r.replyType();
        ByteBuf data = r.content();
        firstReplyInTls = false;
        if (type == NbdReplyType.ERR_TLS_REQD) {
            String text = NbdString.printable(NbdString.decode(data));
            fail(ctx, tlsFailed((tls == null ? "server requires TLS; use nbds://"
                    : "server still requires TLS inside TLS") + (text.isEmpty() ? "" : " (" + text + ")"), null));
            return;
        }
        switch (step) {
            case STARTTLS -> onStartTlsReply(ctx, r, type);
            case STRUCTURED_REPLY -> {
                structured = type == NbdReplyType.ACK;
                if (structured && allocation) {
                    step = Step.META_CONTEXT;
                    ctx.writeAndFlush(new OptionRequest(NbdOption.SET_META_CONTEXT.code(),
                            MetaContext.request(export, List.of(MetaContext.BASE_ALLOCATION))));
                } else {
                    sendSessionOrGo(ctx);
                }
            }
            case META_CONTEXT -> {
                if (type == NbdReplyType.META_CONTEXT) {
                    MetaContext.Reply m = MetaContext.Reply.decode(data);
                    allocationGiven |= m != null && MetaContext.BASE_ALLOCATION.equals(m.name());
                } else {
                    // ACK ends the replies; an error (ERR_UNSUP from most servers) means no contexts: go on without
                    allocationGiven &= type == NbdReplyType.ACK;
                    sendSessionOrGo(ctx);
                }
            }
            case SESSION -> {
                if (type == NbdReplyType.RBD_SESSION) {
                    sessionReply = RbdSession.Reply.decode(data);
                    if (sessionReply == null) {
                        fail(ctx, new RbdException("malformed rbd session reply"));
                    }
                } else if (type == NbdReplyType.ACK && sessionReply != null) {
                    sendGo(ctx);
                } else if (type == NbdReplyType.ERR_UNSUP || type == NbdReplyType.ACK) {
                    sendGo(ctx); // a server without fencing (a bare ACK says nothing we could use either)
                } else {
                    fail(ctx, refusal("export '" + export + "'", r));
                }
            }
            case GO -> onGoReply(ctx, r, type, data);
            case LIST -> {
                if (type == NbdReplyType.SERVER) {
                    ListEntry e;
                    try {
                        e = ListEntry.decode(data);
                    } catch (NbdProtocolException malformed) {
                        fail(ctx, new RbdException("malformed LIST reply"));
                        return;
                    }
                    listed.add(new ExportEntry(e.name(), e.description()));
                } else if (type == NbdReplyType.ACK) {
                    step = Step.DONE;
                    entries.complete(List.copyOf(listed));
                    ctx.writeAndFlush(new OptionRequest(NbdOption.ABORT.code(), Unpooled.EMPTY_BUFFER))
                            .addListener(f -> ctx.close());
                } else {
                    fail(ctx, refusal("LIST", r));
                }
            }
            default -> fail(ctx, step == Step.TLS_HANDSHAKE
                    ? tlsFailed("server sent an option reply during the TLS handshake", null)
                    : new RbdException("unexpected option reply " + r + " during " + step));
        }
    }

    /**
     * The answer to STARTTLS: on ACK the TLS handler goes first in the pipeline and the negotiation goes on once the
     * handshake is done; anything else ends the connection. Nothing the server sent behind the ACK may be read: it
     * came before the handshake, in plaintext.
     */
    private void onStartTlsReply(ChannelHandlerContext ctx, OptionReply r, NbdReplyType type) {
        if (type != NbdReplyType.ACK) {
            String text = NbdString.printable(NbdString.decode(r.content()));
            String name = type != null ? type.name() : "reply type 0x" + Integer.toHexString(r.type());
            fail(ctx, tlsFailed((type == NbdReplyType.ERR_UNSUP ? "server does not support TLS"
                    : "server refused TLS") + " (STARTTLS: " + name + (text.isEmpty() ? "" : ", " + text) + ")", null));
            return;
        }
        if (((ClientHandshakeDecoder) ctx.pipeline().get(DECODER)).buffered() > 0) {
            fail(ctx, tlsFailed("server sent plaintext after accepting STARTTLS", null));
            return;
        }
        step = Step.TLS_HANDSHAKE;
        SslHandler handler = tls.handler(ctx.alloc());
        ctx.pipeline().addFirst(TLS, handler);
        handler.handshakeFuture().addListener(f -> {
            if (step != Step.TLS_HANDSHAKE) {
                return;
            }
            if (f.isSuccess()) {
                begin(ctx);
            } else if (!ctx.channel().isActive()) {
                // the connection ended under the handshake: no answer, not a refusal
                fail(ctx, tlsEnded("TLS handshake failed: the server closed the connection", f.cause()));
            } else {
                fail(ctx, tlsFailed(TlsFailures.describe(f.cause()), f.cause()));
            }
        });
    }

    private String closedAfterHandshake() {
        return "TLS handshake failed: the server ended the connection after the handshake" + (tls.presentsCertificate()
                ? " (it may not accept our client certificate)"
                : " (it may require a client certificate: none in the certificates directory)");
    }

    private TlsFailedException tlsFailed(String detail, Throwable cause) {
        return new TlsFailedException(uri, detail, true, cause);
    }

    /** The connection ended during TLS: no answer, which a reconnect may ask for again. */
    private TlsFailedException tlsEnded(String detail, Throwable cause) {
        return new TlsFailedException(uri, detail, false, cause);
    }

    private void sendSessionOrGo(ChannelHandlerContext ctx) {
        if (session != null) {
            step = Step.SESSION;
            ctx.writeAndFlush(new OptionRequest(RbdSession.OPTION, session.encode()));
        } else {
            sendGo(ctx);
        }
    }

    private void sendGo(ChannelHandlerContext ctx) {
        step = Step.GO;
        ctx.writeAndFlush(new OptionRequest(NbdOption.GO.code(),
                InfoRequest.of(export, NbdInfo.DESCRIPTION, NbdInfo.BLOCK_SIZE).encode()));
    }

    private void onGoReply(ChannelHandlerContext ctx, OptionReply r, NbdReplyType type, ByteBuf data) {
        if (type == NbdReplyType.INFO) {
            InfoReply info;
            try {
                info = InfoReply.decode(data);
            } catch (NbdProtocolException malformed) {
                // ignored like an unknown info; without a usable EXPORT info the ACK below fails GO
                return;
            }
            if (info instanceof InfoReply.Export e) {
                size = e.size();
                flags = e.transmissionFlags();
            } else if (info instanceof InfoReply.Description d) {
                description = d.description();
            } else if (info instanceof InfoReply.BlockSize b) {
                minBlock = b.minimum();
                preferredBlock = b.preferred();
                maxPayload = b.maximum();
            }
        } else if (type == NbdReplyType.ACK) {
            if (size < 0) {
                fail(ctx, new RbdException("server acknowledged GO without NBD_INFO_EXPORT"));
                return;
            }
            finish(ctx);
        } else if (type == NbdReplyType.ERR_UNSUP) {
            // A server without GO: EXPORT_NAME has no error reply, a refusal closes the connection. Metadata
            // contexts count only for GO.
            allocationGiven = false;
            step = Step.EXPORT_NAME;
            ((ClientHandshakeDecoder) ctx.pipeline().get(DECODER)).expectExportNameReply(noZeroes);
            ctx.writeAndFlush(new OptionRequest(NbdOption.EXPORT_NAME.code(), NbdString.buffer(export)));
        } else if (type == null || type.isError()) {
            fail(ctx, refusal("export '" + export + "'", r));
        }
    }

    /** The server's error reply as the exception callers tell apart: unknown export, policy, or another refusal. */
    private RbdException refusal(String what, OptionReply r) {
        NbdReplyType type = r.replyType();
        String text = NbdString.printable(NbdString.decode(r.content()));
        String reason = type == NbdReplyType.ERR_UNKNOWN ? "unknown export"
                : type == NbdReplyType.ERR_POLICY ? "refused by server policy"
                : type == NbdReplyType.ERR_SHUTDOWN ? "server is shutting down"
                : type != null ? type.name() : "reply type 0x" + Integer.toHexString(r.type());
        // the server's own text, when it already says what the reply type says, is enough on its own
        String message = what + ": " + (text.isEmpty() ? reason : text.contains(reason) ? text
                : reason + " (" + text + ")");
        if (type == NbdReplyType.ERR_UNKNOWN) {
            return new UnknownExportException(message, export, type, text);
        }
        if (type == NbdReplyType.ERR_POLICY) {
            return new PolicyRefusedException(message, text);
        }
        return type != null ? new OptionRefusedException(message, type, text) : new RbdException(message);
    }

    private void finish(ChannelHandlerContext ctx) {
        step = Step.DONE;
        info.complete(new ExportInfo(export, description, size, flags, Math.max(1, minBlock),
                Math.max(512, preferredBlock), maxPayload > 0 ? maxPayload : NbdConstants.PORTABLE_MAX_PAYLOAD,
                structured, sessionReply != null, sessionReply != null && sessionReply.acksDurable(),
                sessionReply != null && session.readOnlyIntent() && !sessionReply.exportReadOnly(), allocationGiven));
    }

    private void fail(ChannelHandlerContext ctx, RbdException e) {
        step = Step.DONE;
        info.completeExceptionally(e);
        entries.completeExceptionally(e);
        ctx.close();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        if (step != Step.DONE || !info.isDone() && !entries.isDone()) {
            // EXPORT_NAME has no error reply: closing is how a server says it has no such export
            RbdException e = step == Step.STARTTLS ? tlsEnded("server closed the connection after STARTTLS", null)
                    : step == Step.TLS_HANDSHAKE ? tlsEnded("TLS handshake failed: the server closed the connection",
                    null)
                    : firstReplyInTls ? tlsEnded(closedAfterHandshake(), null)
                    : step == Step.EXPORT_NAME ? new UnknownExportException("server closed the connection: "
                    + "export '" + export + "' unknown or refused", export, null, "")
                    : new RbdException("server closed the connection during negotiation");
            info.completeExceptionally(e);
            entries.completeExceptionally(e);
        }
        ctx.fireChannelInactive();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (TlsFailures.isTls(cause)) {
            fail(ctx, tlsFailed(TlsFailures.describe(cause), cause));
            return;
        }
        if (step == Step.STARTTLS || step == Step.TLS_HANDSHAKE) {
            // e.g. a reset: the connection ended, nothing was refused
            fail(ctx, tlsEnded((step == Step.STARTTLS ? "the connection ended after STARTTLS: "
                    : "TLS handshake failed: ") + NbdString.printable(ConnectFailures.rootMessage(cause)), cause));
            return;
        }
        if (firstReplyInTls && step != Step.DONE) {
            // a reset where the first reply inside TLS should be: the server ended TLS, not the negotiation
            fail(ctx, tlsEnded(closedAfterHandshake(), cause));
            return;
        }
        fail(ctx, new RbdException("negotiation failed: " + cause.getMessage(), null, cause));
    }
}
