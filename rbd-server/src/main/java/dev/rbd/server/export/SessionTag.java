package dev.rbd.server.export;

import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.UUID;

/**
 * How an rbd session is named in messages and log lines: never by its id. The id is what a client proves its
 * session with (whoever sends it may take over the session's slots and writer lock), so the server shows a tag
 * instead, a salted hash of the id that stays the same for the life of the server process, enough to follow a
 * session through the log, and says nothing of the id to anyone who reads it.
 */
public final class SessionTag {
    private static final byte[] SALT = salt();

    private SessionTag() {
    }

    private static byte[] salt() {
        byte[] b = new byte[16];
        new SecureRandom().nextBytes(b); // nextBytes, not generateSeed: it never waits for the kernel's entropy
        return b;
    }

    /** {@code session #} and eight hex digits. */
    public static String of(UUID session) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            sha.update(SALT);
            sha.update(ByteBuffer.allocate(16).putLong(session.getMostSignificantBits())
                    .putLong(session.getLeastSignificantBits()).array());
            return "session #" + HexFormat.of().formatHex(sha.digest(), 0, 4);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java platform has SHA-256", e);
        }
    }
}
