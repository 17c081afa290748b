package dev.rbd.server;

import dev.rbd.protocol.NbdOption;
import dev.rbd.protocol.NbdReplyType;
import dev.rbd.server.RawNbdClient.OptReply;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/** Raw LIST/SET_META_CONTEXT data and BLOCK_STATUS chunks for tests with {@link RawNbdClient}. */
public final class MetaContexts {
    private MetaContexts() {
    }

    /** One extent: length and state flags. */
    public record Extent(long length, int flags) {
    }

    /** A BLOCK_STATUS chunk: its context id and extents. */
    public record Chunk(int id, List<Extent> extents) {
        public long covered() {
            return extents.stream().mapToLong(Extent::length).sum();
        }
    }

    /** Option data: export name, query count, queries. */
    public static byte[] data(String export, String... queries) {
        byte[] n = export.getBytes(StandardCharsets.UTF_8);
        int size = 8 + n.length;
        for (String q : queries) {
            size += 4 + q.getBytes(StandardCharsets.UTF_8).length;
        }
        ByteBuffer b = ByteBuffer.allocate(size).putInt(n.length).put(n).putInt(queries.length);
        for (String q : queries) {
            byte[] qb = q.getBytes(StandardCharsets.UTF_8);
            b.putInt(qb.length).put(qb);
        }
        return b.array();
    }

    /** The context names of the META_CONTEXT replies (id in front: "1 base:allocation"), ending in ACK. */
    public static List<String> contexts(List<OptReply> replies) {
        List<String> names = new ArrayList<>();
        for (OptReply r : replies) {
            if (r.type() == NbdReplyType.META_CONTEXT.code()) {
                ByteBuffer b = ByteBuffer.wrap(r.data());
                int id = b.getInt();
                names.add(id + " " + new String(r.data(), 4, r.data().length - 4, StandardCharsets.UTF_8));
            } else if (r.type() != NbdReplyType.ACK.code()) {
                throw new AssertionError("reply type 0x" + Integer.toHexString(r.type()) + ": " + r.text());
            }
        }
        return names;
    }

    /** Greets, negotiates structured replies, selects the contexts for {@code setFor}, and GOes to {@code export}. */
    public static RawNbdClient open(int port, String setFor, String export, String... queries) throws IOException {
        RawNbdClient c = new RawNbdClient(port).greet().structuredReplies();
        contexts(c.option(NbdOption.SET_META_CONTEXT.code(), data(setFor, queries)));
        OptReply r = c.go(export);
        if (r.type() != NbdReplyType.ACK.code()) {
            throw new IOException("GO refused: " + r.text());
        }
        return c;
    }

    /** Parses a BLOCK_STATUS chunk's data. */
    public static Chunk chunk(byte[] data) {
        ByteBuffer b = ByteBuffer.wrap(data);
        int id = b.getInt();
        List<Extent> extents = new ArrayList<>();
        while (b.hasRemaining()) {
            extents.add(new Extent(Integer.toUnsignedLong(b.getInt()), b.getInt()));
        }
        return new Chunk(id, extents);
    }
}
