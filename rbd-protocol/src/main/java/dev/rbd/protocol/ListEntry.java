package dev.rbd.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;

/**
 * One export in the answer to LIST: the data of an {@code NBD_REP_SERVER} reply.
 *
 * <p>Spec, {@code NBD_REP_SERVER}:
 * <pre>
 *   u32       length of the export name (at most 4096)
 *   n bytes   export name, UTF-8
 *   rest      "implementation-specific details about the export" (rbd: its description), UTF-8, may be empty
 * </pre>
 */
public record ListEntry(String name, String description) {
    public ListEntry {
        name = name == null ? "" : name;
        description = description == null ? "" : description;
    }

    /** The reply data; name and description are each cut at a character boundary to 4096 bytes. */
    public ByteBuf encode() {
        byte[] n = NbdString.encode(name);
        byte[] d = NbdString.encode(description);
        return Unpooled.buffer(4 + n.length + d.length).writeInt(n.length).writeBytes(n).writeBytes(d);
    }

    /**
     * Reads the data of one {@code NBD_REP_SERVER} reply.
     *
     * @throws NbdProtocolException when the data is too short for a name length or the name does not fit
     */
    public static ListEntry decode(ByteBuf b) {
        if (b.readableBytes() < 4) {
            throw new NbdProtocolException("LIST entry of " + b.readableBytes() + " bytes (expected: >= 4)");
        }
        long length = b.readUnsignedInt(); // unsigned, so a length near 2^32 cannot wrap into a small one
        if (length > NbdConstants.MAX_STRING_LENGTH || length > b.readableBytes()) {
            throw new NbdProtocolException("export name length " + length + " does not fit");
        }
        String name = b.readCharSequence((int) length, StandardCharsets.UTF_8).toString();
        return new ListEntry(name, b.readCharSequence(b.readableBytes(), StandardCharsets.UTF_8).toString());
    }
}
