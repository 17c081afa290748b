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
 *   u32       flags, optional (absent means 0, as older clients send it): bit 0 {@link #READ_ONLY_INTENT}
 * </pre>
 * With {@link #READ_ONLY_INTENT} the connection only reads: the server admits it without taking the export's
 * writer lock, sets {@code NBD_FLAG_READ_ONLY} in its transmission flags and answers every WRITE, TRIM and
 * WRITE_ZEROES on it with {@code EPERM}. Flag bits the server does not know make the data malformed.
 * The server first fences the slot's older connection (every request it already read is finished or discarded,
 * the rest of its bytes are dropped, it is closed), then replies with one {@code RBD_SESSION} reply (type
 * {@value #REPLY}) and {@code ACK}. Reply data:
 * <pre>
 *   u32       flags: bit 0 {@link #ACKS_DURABLE}, bit 1 {@link #EXPORT_READ_ONLY}
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
    /**
     * Reply flag: the export itself takes no writes. A connection opened with {@link #READ_ONLY_INTENT} is flagged
     * read-only either way; this bit tells such a client what the export is.
     */
    public static final int EXPORT_READ_ONLY = 2;
    /** Request flag: this connection will not write, so it must not take the export's writer lock. */
    public static final int READ_ONLY_INTENT = 1;
    /** Every request flag this version knows. */
    public static final int KNOWN_REQUEST_FLAGS = READ_ONLY_INTENT;

    private RbdSession() {
    }

    /** The option data a client sends; {@code flags} 0 is sent as no flags field at all, as older clients do. */
    public record Request(UUID session, int slot, long epoch, String export, int flags) {
        public Request(UUID session, int slot, long epoch, String export) {
            this(session, slot, epoch, export, 0);
        }

        public boolean readOnlyIntent() {
            return (flags & READ_ONLY_INTENT) != 0;
        }

        public ByteBuf encode() {
            byte[] name = NbdString.encode(export);
            ByteBuf b = Unpooled.buffer(36 + name.length).writeLong(session.getMostSignificantBits())
                    .writeLong(session.getLeastSignificantBits()).writeInt(slot).writeLong(epoch)
                    .writeInt(name.length).writeBytes(name);
            return flags == 0 ? b : b.writeInt(flags);
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
            long rest = b.readableBytes() - n;
            if (slot < 0 || (rest != 0 && rest != 4) || n > NbdConstants.MAX_STRING_LENGTH) {
                return null;
            }
            String name = b.readCharSequence((int) n, StandardCharsets.UTF_8).toString();
            int flags = rest == 4 ? b.readInt() : 0;
            if ((flags & ~KNOWN_REQUEST_FLAGS) != 0) {
                return null;
            }
            return new Request(id, slot, epoch, name, flags);
        }
    }

    /** The server's answer. */
    public record Reply(int flags, long serverInstance, int finished, int discarded) {
        public boolean acksDurable() {
            return (flags & ACKS_DURABLE) != 0;
        }

        public boolean exportReadOnly() {
            return (flags & EXPORT_READ_ONLY) != 0;
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
