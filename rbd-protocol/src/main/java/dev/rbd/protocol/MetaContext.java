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

    /**
     * {@code LIST_META_CONTEXT} or {@code SET_META_CONTEXT} option data as a server reads it (layout: see
     * {@link #request}); every length is checked against the bytes left before anything is read.
     */
    public record Query(String export, List<String> queries) {
        public Query {
            queries = List.copyOf(queries);
        }

        /**
         * Parses option data that must be exactly one query list.
         *
         * @throws TooBigException       more than {@code maxQueries} queries, or a string above 4096 bytes
         * @throws NbdProtocolException  saying why the data is otherwise malformed
         */
        public static Query decode(ByteBuf b, int maxQueries) {
            String name = string(b, "export name");
            if (b.readableBytes() < 4) {
                throw new NbdProtocolException("no query count after the export name");
            }
            long count = b.readUnsignedInt();
            if (count > maxQueries) {
                throw new TooBigException("queries: " + count + " (expected: <= " + maxQueries + ")");
            }
            List<String> queries = new ArrayList<>((int) count);
            for (int i = 0; i < count; i++) {
                queries.add(string(b, "query"));
            }
            if (b.isReadable()) {
                throw new NbdProtocolException(b.readableBytes() + " bytes after the last query");
            }
            return new Query(name, queries);
        }

        private static String string(ByteBuf b, String what) {
            if (b.readableBytes() < 4) {
                throw new NbdProtocolException(what + " length missing");
            }
            long length = b.readUnsignedInt(); // unsigned, so a length near 2^32 cannot wrap into a small one
            if (length > NbdConstants.MAX_STRING_LENGTH) {
                throw new TooBigException(what + " length: " + length + " (expected: <= "
                        + NbdConstants.MAX_STRING_LENGTH + ")");
            }
            if (length > b.readableBytes()) {
                throw new NbdProtocolException(what + " length " + length + " exceeds the " + b.readableBytes()
                        + " bytes left");
            }
            return b.readCharSequence((int) length, StandardCharsets.UTF_8).toString();
        }
    }

    /** Option data with more queries, or longer strings, than the server takes (its reply: {@code ERR_TOO_BIG}). */
    public static final class TooBigException extends NbdProtocolException {
        private static final long serialVersionUID = 1L;

        public TooBigException(String message) {
            super(message);
        }
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
