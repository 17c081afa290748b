package dev.rbd.client.internal;

import dev.rbd.client.ExportInfo;
import dev.rbd.client.OutcomeUnknownException;
import dev.rbd.client.RbdException;
import dev.rbd.protocol.NbdCommand;
import dev.rbd.protocol.NbdConstants;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What happens to a request once it is over: it is retired, or, for a write acknowledged without being durable,
 * kept until a FLUSH covers it; the session's own FLUSH goes out when enough is kept; and the caller's future
 * completes on the callback executor. The bookkeeping runs on the network thread, so a caller blocked in a
 * callback cannot stall it.
 */
final class Answers {
    private static final Logger log = LoggerFactory.getLogger(Answers.class);

    private final ExportInfo info;
    private final Unflushed unflushed;
    private final Executor callbacks;
    /** Sends the session's own FLUSH. */
    private final Consumer<Request> submit;
    /** Whether the session stopped (closed or failed), so no more own FLUSHes are due. */
    private final BooleanSupplier stopped;

    Answers(ExportInfo info, Unflushed unflushed, Executor callbacks, Consumer<Request> submit,
            BooleanSupplier stopped) {
        this.info = info;
        this.unflushed = unflushed;
        this.callbacks = callbacks;
        this.submit = submit;
        this.stopped = stopped;
    }

    void answered(Request r) {
        boolean retain = r.changesData() && !info.durableAcks() && (r.flags & NbdConstants.CMD_FLAG_FUA) == 0;
        Unflushed.Kept kept = retain ? unflushed.keep(r) : Unflushed.Kept.NO;
        List<Request> covered = r.command == NbdCommand.FLUSH ? unflushed.coveredBy(r.covers) : List.of();
        r.over();
        if (kept == Unflushed.Kept.NO) {
            r.retire();
        }
        covered.forEach(Request::retire);
        if (kept == Unflushed.Kept.YES_FLUSH_DUE | flushEnded(r)) {
            autoFlush();
        }
        callbacks.execute(() -> r.result.complete(null));
    }

    /** The server (or the protocol) failed the request: that is its answer, nothing is replayed. */
    void refused(Request r, RbdException e) {
        r.over();
        r.retire();
        if (flushEnded(r)) {
            autoFlush();
        }
        callbacks.execute(() -> r.result.completeExceptionally(e));
    }

    /** The request gets no answer; a write that was sent has an unknown outcome. */
    void fail(Request r, RbdException cause) {
        r.over();
        r.retire();
        if (r.internal) {
            unflushed.flushFailed();
            log.warn("flush to let go of acknowledged writes failed: {}", cause.getMessage());
        }
        RbdException e = r.sent && r.changesData() ? new OutcomeUnknownException(r.describe() + " was sent but "
                + "never answered (" + cause.getMessage() + "); it may or may not have taken effect", cause) : cause;
        callbacks.execute(() -> r.result.completeExceptionally(e));
    }

    /** A FLUSH of the session's own, so acknowledged writes can be let go. */
    private void autoFlush() {
        submit.accept(Request.flush(true));
    }

    /** After an own FLUSH ended: whether another is due. */
    private boolean flushEnded(Request r) {
        return r.internal && unflushed.flushEnded(stopped.getAsBoolean());
    }
}
