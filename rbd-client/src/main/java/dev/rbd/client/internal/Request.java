package dev.rbd.client.internal;

import dev.rbd.client.NbdErrorException;
import dev.rbd.client.RbdException;
import dev.rbd.protocol.MetaContext;
import dev.rbd.protocol.NbdCommand;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One request from the API call to the wire and back: the session keeps it until it is retired, a connection's
 * pending map holds it while it is on the wire and hands it to its {@link Sink} with the answer. Sent again after
 * a reconnect, it is still the same object.
 */
public final class Request {
    /** Where a connection hands a request once it is over on that connection; called on its event loop. */
    interface Sink {
        /**
         * @param via   the channel of the connection that answered (a request knows nothing of connections, so
         *              the sink tells them apart by their channels)
         * @param error {@code null} when answered, a {@link ConnectionLostException} when the connection ended
         *              under it, else the server's or the protocol's failure
         */
        void replied(Request r, Channel via, RbdException error);
    }

    private static final Runnable NOTHING = () -> { };

    final int flags;
    final NbdCommand command;
    final long offset;
    /** The wire's 32-bit length, unsigned (a TRIM may cover up to 4 GiB - 1). */
    final int length;
    final ByteBuf payload;
    /** Where a READ's data lands, at the absolute index {@link #targetOffset} (the buffer's position is not used). */
    final ByteBuffer target;
    final int targetOffset;
    final CompletableFuture<Void> result = new CompletableFuture<>();
    private Runnable onAnswered = NOTHING;
    private Runnable onRetire = NOTHING;
    private final AtomicBoolean answered = new AtomicBoolean();
    private final AtomicBoolean retired = new AtomicBoolean();
    /** A FLUSH the session sends of its own, to let go of acknowledged writes. */
    final boolean internal;
    /** Submission order, for replays. */
    long seq;
    /** Whether it reached a socket at least once, so its outcome may be unknown. */
    boolean sent;
    /** Its place in the order of acknowledgements, while kept unflushed. */
    long ackSeq;
    /** For a FLUSH: the acknowledgements it covers. */
    long covers;
    /** The session's slot it was last sent on, and who hears its answer there. */
    int slot;
    Sink sink;
    /** An error chunk of a structured reply, until its final chunk. */
    NbdErrorException error;
    /** A BLOCK_STATUS request's answer: base:allocation's extents from the start of its range (one chunk). */
    volatile List<MetaContext.Extent> extents = List.of();

    private Request(int flags, NbdCommand command, long offset, long length, ByteBuf payload, ByteBuffer target,
                    int targetOffset, boolean internal) {
        this.flags = flags;
        this.command = command;
        this.offset = offset;
        this.length = (int) length;
        this.payload = payload;
        this.target = target;
        this.targetOffset = targetOffset;
        this.internal = internal;
    }

    /**
     * A READ of {@code length} bytes at {@code offset}, landing in {@code target} at the absolute index
     * {@code targetOffset}; the buffer's position and limit are left alone.
     */
    static Request read(long offset, int length, ByteBuffer target, int targetOffset) {
        return new Request(0, NbdCommand.READ, offset, length, Unpooled.EMPTY_BUFFER, target, targetOffset, false);
    }

    /** A WRITE of {@code payload}, which the request now owns. */
    static Request write(int flags, long offset, ByteBuf payload) {
        return new Request(flags, NbdCommand.WRITE, offset, payload.readableBytes(), payload, null, 0, false);
    }

    /** A command without payload over a range: TRIM, WRITE_ZEROES, CACHE. */
    static Request ranged(NbdCommand command, int flags, long offset, long length) {
        return new Request(flags, command, offset, length, Unpooled.EMPTY_BUFFER, null, 0, false);
    }

    /** A BLOCK_STATUS of base:allocation over a range. */
    static Request blockStatus(long offset, long length) {
        return new Request(0, NbdCommand.BLOCK_STATUS, offset, length, Unpooled.EMPTY_BUFFER, null, 0, false);
    }

    /** A FLUSH; {@code internal} when the session sends it of its own. */
    static Request flush(boolean internal) {
        return new Request(0, NbdCommand.FLUSH, 0, 0, Unpooled.EMPTY_BUFFER, null, 0, internal);
    }

    /**
     * What the submitter holds for the request: {@code onAnswered} runs once it is over (answered or failed),
     * {@code onRetire} once its payload is let go (answered, covered by a FLUSH where acks are not durable, or
     * failed); both on a network thread, before the future completes on the callback executor: they must not
     * block. Set before the session takes the request.
     */
    void holding(Runnable onAnswered, Runnable onRetire) {
        this.onAnswered = onAnswered;
        this.onRetire = onRetire;
    }

    /** The length as the unsigned number it is on the wire. */
    long span() {
        return Integer.toUnsignedLong(length);
    }

    boolean changesData() {
        return command == NbdCommand.WRITE || command == NbdCommand.TRIM || command == NbdCommand.WRITE_ZEROES;
    }

    boolean isRetired() {
        return retired.get();
    }

    /** The request is over (answered or failed): what the submitter holds until then goes; once. */
    void over() {
        if (answered.compareAndSet(false, true)) {
            onAnswered.run();
        }
    }

    /** Lets go of the payload and whatever the submitter counted against it; once. */
    void retire() {
        if (retired.compareAndSet(false, true)) {
            payload.release();
            onRetire.run();
        }
    }

    /** Names the request in messages: {@code WRITE at 4096+512}. */
    String describe() {
        return command + " at " + Long.toUnsignedString(offset) + "+" + length;
    }
}
