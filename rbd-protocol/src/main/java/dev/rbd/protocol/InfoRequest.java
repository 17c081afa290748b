package dev.rbd.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The data of the INFO and GO options: the export a client asks about and the information it wants.
 *
 * <p>Spec, {@code NBD_OPT_INFO}:
 * <pre>
 *   u32       length of the export name, in bytes (at most 4096)
 *   n bytes   export name, UTF-8, not NUL-terminated
 *   u16       number of information requests
 *   2 x u16   the information requested ({@code NBD_INFO_*})
 * </pre>
 * Info types are kept as wire values: "the server MUST ignore information requests it does not understand".
 */
public record InfoRequest(String name, List<Integer> infoTypes) {
    public InfoRequest {
        name = name == null ? "" : name;
        infoTypes = List.copyOf(infoTypes);
        if (infoTypes.size() > 0xffff) {
            throw new IllegalArgumentException("infoTypes: " + infoTypes.size() + " (expected: <= 65535)");
        }
        for (int t : infoTypes) {
            if ((t & ~0xffff) != 0) {
                throw new IllegalArgumentException("info type: " + t + " (expected: 0-65535)");
            }
        }
    }

    /** A request for the given information about {@code name}. */
    public static InfoRequest of(String name, NbdInfo... infos) {
        List<Integer> types = new ArrayList<>(infos.length);
        for (NbdInfo i : infos) {
            types.add(i.code());
        }
        return new InfoRequest(name, types);
    }

    /** Whether the client asked for {@code info}. */
    public boolean requests(NbdInfo info) {
        return infoTypes.contains(info.code());
    }

    /** The option data; a name over 4096 bytes is cut at a character boundary, as every NBD string is. */
    public ByteBuf encode() {
        byte[] n = NbdString.encode(name);
        ByteBuf b = Unpooled.buffer(4 + n.length + 2 + 2 * infoTypes.size()).writeInt(n.length).writeBytes(n)
                .writeShort(infoTypes.size());
        for (int t : infoTypes) {
            b.writeShort(t);
        }
        return b;
    }

    /**
     * Reads option data that must be exactly one request.
     *
     * @throws NbdProtocolException saying why the data is malformed (the server answers {@code ERR_INVALID})
     */
    public static InfoRequest decode(ByteBuf b) {
        if (b.readableBytes() < 6) {
            throw new NbdProtocolException("INFO or GO data too short: " + b.readableBytes()
                    + " bytes (expected: >= 6)");
        }
        long length = b.readUnsignedInt(); // unsigned, so a length near 2^32 cannot wrap into a small one
        if (length > NbdConstants.MAX_STRING_LENGTH || length > b.readableBytes() - 2) {
            throw new NbdProtocolException("export name length " + length + " does not fit");
        }
        String name = b.readCharSequence((int) length, StandardCharsets.UTF_8).toString();
        int count = b.readUnsignedShort();
        if (b.readableBytes() != count * 2) {
            throw new NbdProtocolException(count + " info requests do not match the option length");
        }
        List<Integer> types = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            types.add(b.readUnsignedShort());
        }
        return new InfoRequest(name, types);
    }
}
