package dev.rbd.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Metadata contexts (spec: "Metadata querying"): the client's {@code SET_META_CONTEXT} option data, the server's
 * {@code META_CONTEXT} reply, and the {@code BLOCK_STATUS} chunk of a structured reply. Only {@code base:allocation}
 * is used, whose extent flags are {@link #STATE_HOLE} and {@link #STATE_ZERO}.
 */
public final class MetaContext {
    public static final String BASE_ALLOCATION = "base:allocation";
    /** base:allocation: the extent is not allocated (a hole). */
    public static final int STATE_HOLE = 1;
    /** base:allocation: the extent reads as zeroes. */
    public static final int STATE_ZERO = 2;

    private MetaContext() {
    }

    /**
     * {@code SET_META_CONTEXT} (or {@code LIST_META_CONTEXT}) option data:
     * <pre>
     *   u32       export name length, then the name in UTF-8
     *   u32       number of queries
     *   per query: u32 length, then the query in UTF-8
     * </pre>
     */
    public static ByteBuf request(String export, List<String> queries) {
        ByteBuf b = Unpooled.buffer();
        byte[] name = NbdString.encode(export);
        b.writeInt(name.length).writeBytes(name).writeInt(queries.size());
        for (String q : queries) {
            byte[] query = NbdString.encode(q);
            b.writeInt(query.length).writeBytes(query);
        }
        return b;
    }

    /** A {@code META_CONTEXT} reply: {@code u32} context id, then the context's name (the rest, UTF-8). */
    public record Reply(int id, String name) {
        /** The reply data. */
        public ByteBuf encode() {
            byte[] n = NbdString.encode(name);
            return Unpooled.buffer(4 + n.length).writeInt(id).writeBytes(n);
        }

        /** Parses reply data; {@code null} when malformed. */
        public static Reply decode(ByteBuf b) {
            if (b.readableBytes() < 4 || b.readableBytes() - 4 > NbdConstants.MAX_STRING_LENGTH) {
                return null;
            }
            int id = b.readInt();
            return new Reply(id, b.readCharSequence(b.readableBytes(), StandardCharsets.UTF_8).toString());
        }
    }

    /** One extent of a {@code BLOCK_STATUS} chunk: its length and state flags. */
    public record Extent(long length, int flags) {
        public boolean zero() {
            return (flags & STATE_ZERO) != 0;
        }
    }

    /**
     * A {@code BLOCK_STATUS} chunk for one context:
     * <pre>
     *   u32       context id
     *   per extent: u32 length (unsigned, not 0), u32 state flags
     * </pre>
     */
    public record BlockStatus(int contextId, List<Extent> extents) {
        /** Parses chunk data; {@code null} when malformed (no extent, a partial one, or one of length 0). */
        public static BlockStatus decode(ByteBuf b) {
            int n = b.readableBytes() - 4;
            if (n < 8 || n % 8 != 0) {
                return null;
            }
            int id = b.readInt();
            List<Extent> extents = new ArrayList<>(n / 8);
            while (b.isReadable()) {
                long length = b.readUnsignedInt();
                int flags = b.readInt();
                if (length == 0) {
                    return null;
                }
                extents.add(new Extent(length, flags));
            }
            return new BlockStatus(id, List.copyOf(extents));
        }

        public ByteBuf encode() {
            ByteBuf b = Unpooled.buffer(4 + 8 * extents.size()).writeInt(contextId);
            for (Extent e : extents) {
                b.writeInt((int) e.length()).writeInt(e.flags());
            }
            return b;
        }
    }
}
