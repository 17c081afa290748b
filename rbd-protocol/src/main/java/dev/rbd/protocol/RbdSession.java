package dev.rbd.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.util.UUID;

/**
 * rbd's session option, an extension outside the numbers the NBD spec assigns. Foreign servers answer it with
 * {@code ERR_UNSUP}, as they must for any option they do not know, and the client carries on without fencing.
 *
 * <p>Option {@value #OPTION} ({@code "RBD"} then 1), sent before GO. Data:
 * <pre>
 *   16 bytes  session id (a UUID, most significant half first)
 *   u32       connection slot (0 .. connections-1)
 *   u64       epoch: strictly greater than every epoch this session used before on this slot
 *   u32       export name length, then the name in UTF-8 (the export GO will name)
 * </pre>
 * The server first fences the slot's older connection (every request it already read is finished or discarded,
 * the rest of its bytes are dropped, it is closed), then replies with one {@code RBD_SESSION} reply (type
 * {@value #REPLY}) and {@code ACK}. Reply data:
 * <pre>
 *   u32       flags: bit 0 {@link #ACKS_DURABLE}
 *   u64       server instance: changes whenever the server process restarts
 *   u32       requests of the fenced connection that were finished (0 when there was none)
 *   u32       requests of the fenced connection that were discarded before they ran
 * </pre>
 * Errors: {@code ERR_INVALID} (malformed), {@code ERR_UNKNOWN} (no such export), {@code ERR_POLICY} (the epoch is
 * not newer than one already seen for the slot: a stale connection), {@code ERR_SHUTDOWN}.
 */
public final class RbdSession {
    public static final int OPTION = 0x5242_4401;
    public static final int REPLY = 0x5242_4401;
    /** Every write the server acknowledges is already on stable storage. */
    public static final int ACKS_DURABLE = 1;

    private RbdSession() {
    }

    /** The option data a client sends. */
    public record Request(UUID session, int slot, long epoch, String export) {
        public ByteBuf encode() {
            byte[] name = NbdString.encode(export);
            return Unpooled.buffer(32 + name.length).writeLong(session.getMostSignificantBits())
                    .writeLong(session.getLeastSignificantBits()).writeInt(slot).writeLong(epoch)
                    .writeInt(name.length).writeBytes(name);
        }

        /** Parses option data; {@code null} when malformed. */
        public static Request decode(ByteBuf b) {
            if (b.readableBytes() < 32) {
                return null;
            }
            UUID id = new UUID(b.readLong(), b.readLong());
            int slot = b.readInt();
            long epoch = b.readLong();
            long n = b.readUnsignedInt();
            if (slot < 0 || n != b.readableBytes() || n > NbdConstants.MAX_STRING_LENGTH) {
                return null;
            }
            return new Request(id, slot, epoch, b.readCharSequence((int) n, StandardCharsets.UTF_8).toString());
        }
    }

    /** The server's answer. */
    public record Reply(int flags, long serverInstance, int finished, int discarded) {
        public boolean acksDurable() {
            return (flags & ACKS_DURABLE) != 0;
        }

        public ByteBuf encode() {
            return Unpooled.buffer(20).writeInt(flags).writeLong(serverInstance).writeInt(finished)
                    .writeInt(discarded);
        }

        /** Parses reply data; {@code null} when malformed. */
        public static Reply decode(ByteBuf b) {
            if (b.readableBytes() != 20) {
                return null;
            }
            return new Reply(b.readInt(), b.readLong(), b.readInt(), b.readInt());
        }
    }
}
