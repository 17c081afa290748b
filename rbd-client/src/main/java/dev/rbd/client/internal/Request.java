package dev.rbd.client.internal;

import dev.rbd.client.NbdErrorException;
import dev.rbd.client.RbdException;
import dev.rbd.protocol.NbdCommand;
import io.netty.buffer.ByteBuf;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One request from the API call to the wire and back: the {@link Session} keeps it until it is retired, a
 * {@link Connection}'s pending map holds it while it is on the wire and hands it to its {@link Sink} with the
 * answer. Sent again after a reconnect, it is still the same object.
 */
public final class Request {
    /** Where a connection hands a request once it is over on that connection; called on its event loop. */
    interface Sink {
        /**
         * @param error {@code null} when answered, a {@link ConnectionLostException} when the connection ended
         *              under it, else the server's or the protocol's failure
         */
        void replied(Request r, Connection c, RbdException error);
    }

    final int flags;
    final NbdCommand command;
    final long offset;
    final int length;
    final ByteBuf payload;
    /** Where a READ's data lands, at {@link #targetOffset}. */
    final byte[] target;
    final int targetOffset;
    final CompletableFuture<Void> result;
    private final Runnable onAnswered;
    private final Runnable onRetire;
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

    /**
     * @param onAnswered runs once the request is over (answered or failed)
     * @param onRetire   runs once its payload is let go (answered, covered by a FLUSH where acks are not
     *                   durable, or failed); both on a network thread, before the future completes on the callback
     *                   executor: they must not block
     */
    public Request(int flags, NbdCommand command, long offset, int length, ByteBuf payload, byte[] target,
                   int targetOffset, Runnable onAnswered, Runnable onRetire) {
        this(flags, command, offset, length, payload, target, targetOffset, onAnswered, onRetire, false);
    }

    Request(int flags, NbdCommand command, long offset, int length, ByteBuf payload, byte[] target, int targetOffset,
            Runnable onAnswered, Runnable onRetire, boolean internal) {
        this.flags = flags;
        this.command = command;
        this.offset = offset;
        this.length = length;
        this.payload = payload;
        this.target = target;
        this.targetOffset = targetOffset;
        this.result = new CompletableFuture<>();
        this.onAnswered = onAnswered;
        this.onRetire = onRetire;
        this.internal = internal;
    }

    /** Completes when the request is answered or failed, on the session's callback executor. */
    public CompletableFuture<Void> result() {
        return result;
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
