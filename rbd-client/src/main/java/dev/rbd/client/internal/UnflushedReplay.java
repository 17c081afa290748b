package dev.rbd.client.internal;

import dev.rbd.client.RbdException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes acknowledged-but-unflushed writes again on a new connection, in acknowledgement order, overlapping ones
 * one after the other. The writes stay kept (a later FLUSH lets them go); only their answers come here.
 */
final class UnflushedReplay {
    private static final Logger log = LoggerFactory.getLogger(UnflushedReplay.class);

    private UnflushedReplay() {
    }

    /**
     * Sends {@code writes} on {@code c}; the future completes when all are answered, exceptionally with the first
     * failure or a {@link TimeoutException} once {@code wait} has passed.
     */
    static CompletableFuture<Void> run(Connection c, List<Request> writes, ScheduledExecutorService scheduler,
                                       Duration wait) {
        log.info("replaying {} acknowledged but unflushed write(s) the server may have lost", writes.size());
        OverlapIndex order = new OverlapIndex();
        List<CompletableFuture<Void>> all = new ArrayList<>();
        for (Request w : writes) {
            CompletableFuture<Void> answer = new CompletableFuture<>();
            OverlapIndex.Admission a = order.admit(w.offset, w.length, true);
            a.ready().thenRun(() -> {
                w.sink = (r, conn, error) -> {
                    if (error == null) {
                        answer.complete(null);
                    } else {
                        answer.completeExceptionally(error);
                    }
                };
                c.submit(w);
            });
            all.add(answer.whenComplete((v, e) -> a.entry().release()));
        }
        CompletableFuture<Void> done = CompletableFuture.allOf(all.toArray(new CompletableFuture<?>[0]));
        try {
            ScheduledFuture<?> timeout = scheduler.schedule(() -> done.completeExceptionally(
                    new TimeoutException("no answer within " + wait.toMillis() + " ms")), wait.toMillis(),
                    TimeUnit.MILLISECONDS);
            done.whenComplete((v, e) -> timeout.cancel(false));
        } catch (RejectedExecutionException e) {
            done.completeExceptionally(new RbdException("the client was closed"));
        }
        return done;
    }
}
