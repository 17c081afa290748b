package dev.rbd.server.export;

import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * rbd session fencing: a connection that registers on a session slot with a newer epoch fences the slot's
 * previous connection, which reads nothing more, drops its unread bytes, and reports once none of its requests
 * still runs. Only then is the newer connection answered, so the old one's writes cannot land after the new
 * one's.
 */
public final class Fencing {
    private static final Logger log = LoggerFactory.getLogger(Fencing.class);

    private Fencing() {
    }

    /**
     * The outcome of {@link #takeOver}: a refusal, or a future that completes once the slot's previous connection
     * (if any) is fenced.
     */
    public record TakeOver(String refusal, CompletableFuture<Fenced> fenced) {
    }

    private static final TakeOver NOTHING_TO_FENCE = new TakeOver(null, CompletableFuture.completedFuture(
            new Fenced(0, 0)));

    /**
     * Registers {@code conn} on slot {@code slot} of rbd session {@code session} of the export, and fences the slot's
     * previous connection. The epoch must be newer (unsigned) than every epoch seen on that slot.
     */
    public static TakeOver takeOver(Export export, UUID session, int slot, long epoch, Connection conn) {
        SessionSlots.Registration reg = export.sessions().register(session, slot, epoch, conn);
        if (reg.refusal() != null) {
            return new TakeOver(reg.refusal(), null);
        }
        Connection old = reg.previous();
        if (old == null) {
            log.debug("[{}] {} slot {} epoch {}", conn.id(), SessionTag.of(session), slot, Long.toUnsignedString(epoch));
            return NOTHING_TO_FENCE;
        }
        log.info("[{}] {} slot {} epoch {} -> {}: fencing connection [{}]", conn.id(), SessionTag.of(session), slot,
                Long.toUnsignedString(reg.previousEpoch()), Long.toUnsignedString(epoch), old.id());
        CompletableFuture<Fenced> fenced = fence(old).whenComplete((f, e) -> {
            if (f != null) {
                log.info("[{}] connection [{}] fenced: {} request(s) finished, {} discarded", conn.id(), old.id(),
                        f.finished(), f.discarded());
            }
        });
        return new TakeOver(null, fenced);
    }

    /**
     * Fences a connection from any thread: it reads nothing more, the bytes it has not read are dropped, and the
     * future completes once no request it read is still running.
     */
    static CompletableFuture<Fenced> fence(Connection conn) {
        CompletableFuture<Fenced> done = new CompletableFuture<>();
        conn.channel().eventLoop().execute(() -> conn.fenceable().fence().whenComplete((f, e) -> {
            if (e != null) {
                done.completeExceptionally(e);
            } else {
                done.complete(f);
            }
        }));
        return done;
    }
}
