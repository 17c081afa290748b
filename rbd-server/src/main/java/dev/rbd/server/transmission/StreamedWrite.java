package dev.rbd.server.transmission;

import dev.rbd.protocol.NbdCommand;
import dev.rbd.protocol.NbdError;
import dev.rbd.protocol.NbdWritePart;
import dev.rbd.server.export.Connection;

/**
 * A WRITE too large to hold whole: its parts are stored as they arrive (each counted until stored), and it is
 * answered once the last is stored, and synced when required.
 */
final class StreamedWrite {
    private final StreamOwner owner;
    private final Dispatcher dispatcher;
    private final Connection conn;
    private final long cookie;
    private final long offset;
    private final long length;
    private final boolean fua;
    private final long weight;
    private int storing;
    private boolean allArrived;
    private boolean answered;
    private Outcome failure;

    StreamedWrite(StreamOwner owner, Dispatcher dispatcher, Connection conn, long cookie, long offset, long length,
            boolean fua, long weight) {
        this.owner = owner;
        this.dispatcher = dispatcher;
        this.conn = conn;
        this.cookie = cookie;
        this.offset = offset;
        this.length = length;
        this.fua = fua;
        this.weight = weight;
    }

    void part(NbdWritePart p) {
        long bytes = p.content().readableBytes();
        owner.holding(bytes); // already in memory: counted whatever the limits, and reading pauses if over
        storing++;
        allArrived = p.last();
        if (failure != null || owner.fenced()) {
            p.release();
            stored(bytes, null);
            return;
        }
        long at = offset + p.position();
        dispatcher.writePart(at, p).whenComplete((v, e) -> owner.onLoop(() -> stored(bytes, e)));
    }

    private void stored(long bytes, Throwable e) {
        storing--;
        if (e != null && failure == null) {
            failure = StoreErrors.toOutcome(e);
        }
        finishIfDone();
        owner.released(bytes);
    }

    /** The connection closed before the last part came. */
    void abort() {
        if (!allArrived) {
            allArrived = true;
            if (failure == null) {
                failure = Outcome.error(NbdError.ESHUTDOWN, "the connection closed during the payload");
            }
            finishIfDone();
        }
    }

    private void finishIfDone() {
        if (!allArrived || storing > 0 || answered) {
            return;
        }
        answered = true;
        if (failure != null) {
            owner.completed(NbdCommand.WRITE, cookie, offset, weight, failure);
            return;
        }
        conn.bytesWritten().addAndGet(length);
        dispatcher.finishStreamedWrite(fua).whenComplete((o, e) -> owner.onLoop(() ->
                owner.completed(NbdCommand.WRITE, cookie, offset, weight, e == null ? o : StoreErrors.toOutcome(e))));
    }
}
