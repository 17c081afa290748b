package dev.rbd.server.transmission;

import dev.rbd.protocol.NbdConstants;
import dev.rbd.protocol.NbdRequest;
import dev.rbd.protocol.NbdStructuredReply;
import dev.rbd.server.export.StatusContext;
import dev.rbd.server.store.BlockStore;
import dev.rbd.server.store.Extents;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * The answer to {@code BLOCK_STATUS}: one {@code BLOCK_STATUS} chunk per selected context, each describing the range
 * from the request's offset, never past the request's end (the spec allows less than asked, never more with
 * REQ_ONE), with at least one extent and at most {@link #MAX_EXTENTS}.
 */
final class BlockStatusReplies {
    /**
     * Extents in one chunk: at most 512 KiB of reply for any request, however fragmented the image. A client that
     * wants more asks again from where the reply ended.
     */
    static final int MAX_EXTENTS = 1 << 16;
    /** The finest allocation granularity expected (a page, a file system block), for {@link #weight}. */
    private static final int GRANULE = 4096;

    private BlockStatusReplies() {
    }

    /**
     * An estimate of the reply's size, counted against the connection's in-flight bytes: one extent with REQ_ONE, else
     * one per 4 KiB of range (plus the unaligned ends), at most {@link #MAX_EXTENTS}, for every context there is.
     */
    static long weight(NbdRequest req) {
        long extents = req.hasFlag(NbdConstants.CMD_FLAG_REQ_ONE) ? 1
                : Math.min(MAX_EXTENTS, req.length() / GRANULE + 2);
        return 64 + StatusContext.values().length * (4 + 8 * extents);
    }

    /**
     * Asks the store about the range for each context and encodes the chunk payloads, each behind its u32 length
     * (see {@link #chunks}). Runs on an I/O thread: a store may block.
     */
    static ByteBuf answer(BlockStore store, List<StatusContext> contexts, long offset, long length, boolean reqOne,
                          ByteBufAllocator alloc) throws IOException {
        List<Extents> answers = new ArrayList<>(contexts.size());
        int bytes = 0;
        for (StatusContext c : contexts) {
            Extents e = new Extents(offset, length, reqOne ? 1 : MAX_EXTENTS);
            c.describe(store, e);
            if (e.count() == 0) {
                throw new IllegalStateException(c.contextName() + ": the store described nothing");
            }
            answers.add(e);
            bytes += 8 + 8 * e.count();
        }
        ByteBuf buf = alloc.buffer(bytes);
        for (int i = 0; i < contexts.size(); i++) {
            Extents e = answers.get(i);
            //   u32 payload length (ours, not sent), u32 context id, per extent: u32 length, u32 state flags
            buf.writeInt(4 + 8 * e.count()).writeInt(contexts.get(i).id());
            for (int x = 0; x < e.count(); x++) {
                buf.writeInt((int) e.length(x)).writeInt(e.flags(x));
            }
        }
        return buf;
    }

    /** The structured reply chunks of an {@link #answer}, the last with DONE; takes ownership of {@code answer}. */
    static List<NbdStructuredReply> chunks(long cookie, ByteBuf answer) {
        List<NbdStructuredReply> chunks = new ArrayList<>(1);
        try {
            while (answer.isReadable()) {
                ByteBuf payload = answer.readRetainedSlice(answer.readInt());
                chunks.add(new NbdStructuredReply(answer.isReadable() ? 0 : NbdConstants.REPLY_FLAG_DONE,
                        NbdConstants.REPLY_TYPE_BLOCK_STATUS, cookie, payload));
            }
        } finally {
            answer.release();
        }
        return chunks;
    }
}
