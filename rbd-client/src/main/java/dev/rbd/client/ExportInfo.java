package dev.rbd.client;

import dev.rbd.protocol.NbdConstants;

/**
 * What the server told about an export during negotiation.
 *
 * @param transmissionFlags the NBD transmission flags
 * @param minimumBlock      alignment (1 when the server sent no block sizes)
 * @param preferredBlock    preferred request granularity
 * @param maxPayload        largest payload the server accepts
 * @param fencing           the server speaks rbd's session option: a reconnect fences the old connection
 * @param durableAcks       the server said every write it acknowledges is on stable storage (rbd-server's
 *                          default); false for servers that did not say
 * @param readOnlyByChoice  the client asked to only read (rbd's READ_ONLY_INTENT), and the export itself takes
 *                          writes: {@code READ_ONLY} in the flags is the client's choice, not the export's
 * @param blockStatus       the server gave the {@code base:allocation} metadata context: BLOCK_STATUS tells holes
 *                          and zeroes apart from data (asked for with {@link ClientOptions#blockStatus()})
 */
public record ExportInfo(String name, String description, long size, int transmissionFlags, int minimumBlock,
                         int preferredBlock, int maxPayload, boolean structuredReplies, boolean fencing,
                         boolean durableAcks, boolean readOnlyByChoice, boolean blockStatus) {
    public boolean readOnly() {
        return has(NbdConstants.FLAG_READ_ONLY);
    }

    /** Whether the export itself takes no writes, whatever this client chose. */
    public boolean exportReadOnly() {
        return readOnly() && !readOnlyByChoice;
    }

    public boolean canFlush() {
        return has(NbdConstants.FLAG_SEND_FLUSH);
    }

    public boolean canFua() {
        return has(NbdConstants.FLAG_SEND_FUA);
    }

    public boolean canTrim() {
        return has(NbdConstants.FLAG_SEND_TRIM);
    }

    public boolean canWriteZeroes() {
        return has(NbdConstants.FLAG_SEND_WRITE_ZEROES);
    }

    public boolean canCache() {
        return has(NbdConstants.FLAG_SEND_CACHE);
    }

    public boolean canMultiConn() {
        return has(NbdConstants.FLAG_CAN_MULTI_CONN);
    }

    private boolean has(int flag) {
        return (transmissionFlags & flag) != 0;
    }
}
