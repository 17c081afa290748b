package dev.rbd.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetEncoder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/** Strings on the wire: UTF-8, at most {@link NbdConstants#MAX_STRING_LENGTH} bytes, never cut inside a character. */
public final class NbdString {
    private NbdString() {
    }

    /** The UTF-8 bytes of {@code s} (null reads as empty), cut at a character boundary to 4096 bytes at most. */
    public static byte[] encode(String s) {
        return encode(s, NbdConstants.MAX_STRING_LENGTH);
    }

    /** The UTF-8 bytes of {@code s}, cut at a character boundary to {@code maxBytes} at most. */
    public static byte[] encode(String s, int maxBytes) {
        if (s == null || s.isEmpty()) {
            return new byte[0];
        }
        byte[] all = s.getBytes(StandardCharsets.UTF_8);
        if (all.length <= maxBytes) {
            return all;
        }
        // The encoder stops before a character that does not fit whole (surrogate pairs included).
        CharsetEncoder enc = StandardCharsets.UTF_8.newEncoder();
        ByteBuffer out = ByteBuffer.allocate(maxBytes);
        enc.encode(CharBuffer.wrap(s), out, true);
        return Arrays.copyOf(out.array(), out.position());
    }

    /** {@code s} as a buffer on its own: the data of EXPORT_NAME (the bare name), an error reply's message. */
    public static ByteBuf buffer(String s) {
        return Unpooled.wrappedBuffer(encode(s));
    }

    /** All readable bytes of {@code b} as UTF-8 (a string whose length the enclosing length implies). */
    public static String decode(ByteBuf b) {
        return b.readCharSequence(b.readableBytes(), StandardCharsets.UTF_8).toString();
    }

    /**
     * {@code s} made safe for a log line or a message: what came from the network may not start a new line, move
     * the cursor, or turn text around. Control and format characters and line separators become escapes
     * ({@code \n}, {@code \r}, {@code \t}, else {@code \\uXXXX}); everything else, backslashes included, stays
     * as it is.
     */
    public static String printable(String s) {
        if (s == null) {
            return "";
        }
        StringBuilder out = null;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            String escape = escape(c);
            if (escape != null && out == null) {
                out = new StringBuilder(s.length() + 16).append(s, 0, i);
            }
            if (out != null) {
                if (escape != null) {
                    out.append(escape);
                } else {
                    out.append(c);
                }
            }
        }
        return out == null ? s : out.toString();
    }

    private static String escape(char c) {
        switch (c) {
            case '\n':
                return "\\n";
            case '\r':
                return "\\r";
            case '\t':
                return "\\t";
            default:
                break;
        }
        int type = Character.getType(c);
        if (type == Character.CONTROL || type == Character.FORMAT || type == Character.LINE_SEPARATOR
                || type == Character.PARAGRAPH_SEPARATOR) {
            return String.format("\\u%04x", (int) c);
        }
        return null;
    }
}
