package dev.rbd.server.handshake;

import dev.rbd.protocol.MetaContext;
import dev.rbd.protocol.NbdOption;
import dev.rbd.protocol.NbdProtocolException;
import dev.rbd.protocol.NbdReplyType;
import dev.rbd.protocol.OptionReply;
import dev.rbd.server.export.Connection;
import dev.rbd.server.export.Export;
import dev.rbd.server.export.ServerContext;
import dev.rbd.server.export.StatusContext;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * {@code LIST_META_CONTEXT} and {@code SET_META_CONTEXT} (spec: "Metadata querying"): which metadata contexts an
 * export offers, and which the connection selects for {@code BLOCK_STATUS}. Both need structured replies first.
 * Queries naming contexts the server does not know are ignored; an empty LIST query list lists every context, and a
 * bare namespace ({@code base:}) lists the namespace's contexts, in LIST only. The selection of a SET holds for the
 * export it named: a GO for another name transmits with no contexts.
 */
final class MetaContextOption {
    /** Queries one option may carry. Clients send a handful; the cap bounds the work one option can ask for. */
    static final int MAX_QUERIES = 64;

    private final ServerContext server;
    private final Connection conn;
    /** The export name of the last SET that succeeded, or {@code null}. */
    private String selectedFor;
    private List<StatusContext> selected = List.of();

    MetaContextOption(ServerContext server, Connection conn) {
        this.server = server;
        this.conn = conn;
    }

    /** The contexts a GO for export {@code name} transmits with: none unless the last SET named that export. */
    List<StatusContext> selectedFor(String name) {
        return name.equals(selectedFor) ? selected : List.of();
    }

    /** Answers LIST_META_CONTEXT or SET_META_CONTEXT. */
    void handle(ChannelHandlerContext ctx, NbdOption option, ByteBuf data, boolean structured) {
        boolean set = option == NbdOption.SET_META_CONTEXT;
        int code = option.code();
        if (set) {
            // whatever happens below, an earlier selection is gone: after a failed SET the client assumes none
            selectedFor = null;
            selected = List.of();
        }
        if (!structured) {
            error(ctx, code, NbdReplyType.ERR_INVALID, option + " needs structured replies (STRUCTURED_REPLY) first");
            return;
        }
        MetaContext.Query request;
        try {
            request = MetaContext.Query.decode(data, MAX_QUERIES);
        } catch (MetaContext.TooBigException e) {
            error(ctx, code, NbdReplyType.ERR_TOO_BIG, e.getMessage());
            return;
        } catch (NbdProtocolException e) {
            error(ctx, code, NbdReplyType.ERR_INVALID, e.getMessage());
            return;
        }
        Admission.Found lookup = Admission.lookup(server, conn, option.name(), request.export());
        Admission.Refusal refusal = lookup.refusal();
        Export export = lookup.export();
        if (refusal != null) {
            error(ctx, code, refusal.type(), refusal.message());
            return;
        }
        List<StatusContext> found = match(export, request.queries(), !set);
        if (set) {
            selectedFor = request.export();
            selected = found;
        }
        for (StatusContext c : found) {
            ctx.write(new OptionReply(code, NbdReplyType.META_CONTEXT.code(),
                    new MetaContext.Reply(c.id(), c.contextName()).encode()));
        }
        ctx.writeAndFlush(OptionReply.ack(code));
    }

    /** The offered contexts the queries name, each once, in id order; unknown queries are ignored. */
    static List<StatusContext> match(Export export, List<String> queries, boolean list) {
        List<StatusContext> offered = StatusContext.offered(export);
        if (list && queries.isEmpty()) {
            return offered;
        }
        Set<StatusContext> found = new LinkedHashSet<>();
        for (StatusContext c : offered) {
            for (String q : queries) {
                if (q.equals(c.contextName()) || (list && q.equals(c.namespace() + ":"))) {
                    found.add(c);
                }
            }
        }
        return List.copyOf(found);
    }

    private void error(ChannelHandlerContext ctx, int code, NbdReplyType type, String message) {
        OptionErrors.send(ctx, conn, code, type, message);
    }
}
