package dev.rbd.server.export;

/**
 * Block size constraints advertised with {@code NBD_INFO_BLOCK_SIZE}: minimum (alignment), preferred and maximum
 * payload. The minimum and preferred sizes are powers of two as the spec requires.
 */
public record BlockSizes(int minimum, int preferred, int maxPayload) {
    /**
     * 1-byte alignment, 4 KiB preferred, 64 MiB payloads: as nbdkit accepts, since clients such as nbd-server's
     * tester ignore the advertised maximum and send writes of up to 48 MiB. Payloads above 2 MiB are streamed in
     * parts, so the maximum costs no memory.
     */
    public static final BlockSizes DEFAULT = new BlockSizes(1, 4096, 64 << 20);

    public BlockSizes {
        if (Integer.bitCount(minimum) != 1 || minimum > 65536) {
            throw new IllegalArgumentException("minimum: " + minimum + " (expected: a power of 2 <= 65536)");
        }
        if (Integer.bitCount(preferred) != 1 || preferred < Math.max(minimum, 512)) {
            throw new IllegalArgumentException("preferred: " + preferred + " (expected: a power of 2 >= "
                    + Math.max(minimum, 512) + ")");
        }
        if (maxPayload < preferred || maxPayload % minimum != 0) {
            throw new IllegalArgumentException("maxPayload: " + maxPayload + " (expected: >= " + preferred
                    + " and a multiple of " + minimum + ")");
        }
    }

    /** Whether offset and length are multiples of the minimum block size (offset is unsigned). */
    public boolean aligned(long offset, long length) {
        long mask = minimum - 1L;
        return (offset & mask) == 0 && (length & mask) == 0;
    }
}
