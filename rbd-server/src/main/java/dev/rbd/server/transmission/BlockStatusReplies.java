package dev.rbd.server.transmission;

import dev.rbd.protocol.MetaContext;
import dev.rbd.protocol.NbdConstants;
import dev.rbd.protocol.NbdRequest;
import dev.rbd.protocol.NbdStructuredReply;
import dev.rbd.server.export.StatusContext;
import dev.rbd.server.store.BlockStore;
import dev.rbd.server.store.Extents;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.CompositeByteBuf;
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
     * Asks the store about the range for each context and encodes the chunk payloads, one component of the returned
     * buffer per context (see {@link #chunks}). Runs on an I/O thread: a store may block.
     */
    static ByteBuf answer(BlockStore store, List<StatusContext> contexts, long offset, long length, boolean reqOne,
                          ByteBufAllocator alloc) throws IOException {
        CompositeByteBuf answer = alloc.compositeBuffer(Math.max(2, contexts.size()));
        try {
            for (StatusContext c : contexts) {
                Extents e = new Extents(offset, length, reqOne ? 1 : MAX_EXTENTS);
                c.describe(store, e);
                if (e.count() == 0) {
                    throw new IllegalStateException(c.contextName() + ": the store described nothing");
                }
                List<MetaContext.Extent> extents = new ArrayList<>(e.count());
                for (int i = 0; i < e.count(); i++) {
                    extents.add(new MetaContext.Extent(e.length(i), e.flags(i)));
                }
                answer.addComponent(true, new MetaContext.BlockStatus(c.id(), extents).encode());
            }
            return answer;
        } catch (IOException | RuntimeException | Error e) {
            answer.release();
            throw e;
        }
    }

    /** The structured reply chunks of an {@link #answer}, the last with DONE; takes ownership of {@code answer}. */
    static List<NbdStructuredReply> chunks(long cookie, ByteBuf answer) {
        try {
            CompositeByteBuf parts = (CompositeByteBuf) answer;
            int n = parts.numComponents();
            List<NbdStructuredReply> chunks = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                int start = parts.toByteIndex(i);
                int end = i + 1 < n ? parts.toByteIndex(i + 1) : parts.writerIndex();
                chunks.add(new NbdStructuredReply(i + 1 < n ? 0 : NbdConstants.REPLY_FLAG_DONE,
                        NbdConstants.REPLY_TYPE_BLOCK_STATUS, cookie, parts.retainedSlice(start, end - start)));
            }
            return chunks;
        } finally {
            answer.release();
        }
    }
}
