package dev.rbd.server.store;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.concurrent.TimeUnit;

/**
 * What an overlay remembers of the golden image it was made over, to notice when that image was replaced or
 * modified: its size, its modification time (nanoseconds; 0 for a block device, whose node's time says nothing of
 * its contents) and a SHA-256 of sampled contents: the first and the last MiB and 64 blocks of 4 KiB spread evenly
 * through the image. Replacing the file by another image changes the sample (or the size, or the time); writing
 * to it in place changes its modification time. Reading the sample costs about 2.3 MiB, once per export.
 *
 * @param size   bytes
 * @param mtime  modification time in nanoseconds since the epoch, or 0 for a block device
 * @param sample SHA-256 of the sampled contents (32 bytes)
 */
public record GoldenFingerprint(long size, long mtime, byte[] sample) {
    static final int SAMPLE_BYTES = 32;
    private static final int EDGE = 1 << 20;
    private static final int SPREAD_BLOCKS = 64;
    private static final int SPREAD_BLOCK = 4096;

    public GoldenFingerprint {
        if (sample.length != SAMPLE_BYTES) {
            throw new IllegalArgumentException("sample: " + sample.length + " bytes (expected: " + SAMPLE_BYTES + ")");
        }
        sample = sample.clone();
    }

    @Override
    public byte[] sample() {
        return sample.clone();
    }

    /** Fingerprints the image at {@code path} (a regular file or a block device). */
    public static GoldenFingerprint of(Path path) throws IOException {
        BasicFileAttributes attrs = Files.readAttributes(path, BasicFileAttributes.class);
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            long mtime = attrs.isRegularFile() ? attrs.lastModifiedTime().to(TimeUnit.NANOSECONDS) : 0;
            MessageDigest sha = sha256();
            ByteBuffer n = ByteBuffer.allocate(8).putLong(0, size);
            sha.update(n);
            ByteBuffer buf = ByteBuffer.allocate(EDGE);
            hashRange(ch, sha, buf, 0, Math.min(EDGE, size));
            hashRange(ch, sha, buf, Math.max(0, size - EDGE), Math.min(EDGE, size));
            for (int i = 0; i < SPREAD_BLOCKS; i++) {
                long at = size / SPREAD_BLOCKS * i / SPREAD_BLOCK * SPREAD_BLOCK;
                hashRange(ch, sha, buf, at, Math.min(SPREAD_BLOCK, size - at));
            }
            return new GoldenFingerprint(size, mtime, sha.digest());
        }
    }


    private static void hashRange(FileChannel ch, MessageDigest sha, ByteBuffer buf, long at, long length)
            throws IOException {
        if (length <= 0) {
            return;
        }
        buf.clear().limit((int) length);
        while (buf.hasRemaining()) {
            int n = ch.read(buf, at + buf.position());
            if (n < 0) {
                throw new IOException("golden image shrank while it was being read");
            }
        }
        buf.flip();
        sha.update(buf);
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java platform has SHA-256", e);
        }
    }

    /**
     * How {@code now}, the golden image as it is, differs from this one, the image an overlay was made over; or
     * {@code null} when it is the same image.
     */
    public String difference(GoldenFingerprint now) {
        if (size != now.size) {
            return "its size is " + now.size + " bytes, not " + size;
        }
        if (!Arrays.equals(sample, now.sample)) {
            return "its contents differ (it was rewritten, or another image was put in its place)";
        }
        if (mtime != now.mtime) {
            return "it was modified (its modification time changed)";
        }
        return null;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof GoldenFingerprint f && f.size == size && f.mtime == mtime
                && Arrays.equals(f.sample, sample);
    }

    @Override
    public int hashCode() {
        return Long.hashCode(size) * 31 + Arrays.hashCode(sample);
    }

    @Override
    public String toString() {
        return "GoldenFingerprint[size=" + size + ", mtime=" + mtime + ", sample="
                + HexFormat.of().formatHex(sample, 0, 8) + "…]";
    }
}
