package dev.rbd.protocol;

/**
 * The answer to {@code NBD_OPT_EXPORT_NAME}: size u64, transmission flags u16, then 124 zero bytes unless both
 * sides agreed on NO_ZEROES.
 */
public record ExportNameReply(long size, int transmissionFlags, boolean noZeroes) {
}
