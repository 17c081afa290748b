package dev.rbd.protocol;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import java.util.Arrays;

/**
 * What the fuzz harnesses make of the fuzzer's bytes: the bytes a peer sends, then a setup byte, then a read-size
 * byte (the last two are taken from the end, so an input file is the wire bytes with two bytes appended):
 *
 * <pre>
 *   wire bytes ... | setup (u8) | read size (u8: 0 = everything in one read, else reads of that many bytes)
 * </pre>
 *
 * The setup byte means what each harness says (a limit to decode under, a filler to append). The filler lets a
 * short input stand for a payload of megabytes: {@link #wireWithFiller()} appends bytes of a known pattern to the
 * wire bytes, so the fuzzer can reach the paths of large payloads without inputs of that size.
 */
public record FuzzInput(byte[] wire, int setup, int readSize) {
    /** The setup's top six bits count the filler in units of this many bytes (so up to 63 of them). */
    public static final int FILLER_UNIT = 128 << 10;

    private static final byte[] PATTERN = new byte[63 * FILLER_UNIT];

    static {
        for (int i = 0; i < PATTERN.length; i++) {
            PATTERN[i] = (byte) (i * 7 + 1);
        }
    }

    public static FuzzInput of(FuzzedDataProvider data) {
        int readSize = data.consumeInt(0, 255);
        int setup = data.consumeInt(0, 255);
        return new FuzzInput(data.consumeRemainingAsBytes(), setup, readSize);
    }

    /** The wire bytes followed by {@code (setup >>> 2) * FILLER_UNIT} bytes of a recognisable pattern. */
    public byte[] wireWithFiller() {
        int filler = (setup >>> 2) * FILLER_UNIT;
        byte[] out = Arrays.copyOf(wire, wire.length + filler);
        System.arraycopy(PATTERN, 0, out, wire.length, filler);
        return out;
    }

    /**
     * The size of the read that starts at {@code from}: the read size within the wire bytes (all of them at once
     * for 0), and reads of {@link #FILLER_UNIT} within the filler, which stands for bulk data.
     */
    public int readAt(int from) {
        if (from >= wire.length) {
            return FILLER_UNIT;
        }
        return readSize == 0 ? wire.length - from : Math.min(readSize, wire.length - from);
    }
}
