package dev.rbd.server.handshake;

import io.netty.util.concurrent.GlobalEventExecutor;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;

/**
 * One warning a second for refusals a peer can cause at will (as the server's connection refusals are logged): the
 * first in a second is logged as it happens, the rest of that second are counted in one line when it is over.
 */
final class RefusalLog {
    private static final long INTERVAL_NANOS = TimeUnit.SECONDS.toNanos(1);

    private final Logger log;
    private final String what;
    private long lastLogged = System.nanoTime() - 2 * INTERVAL_NANOS;
    private int unlogged;

    /**
     * @param what what the counted line says was refused, e.g. "export request(s) refused by the export's allow
     *             rules"
     */
    RefusalLog(Logger log, String what) {
        this.log = log;
        this.what = what;
    }

    /** Logs {@code format} with {@code args} at WARN, unless a refusal was logged less than a second ago. */
    void warn(String format, Object... args) {
        synchronized (this) {
            long now = System.nanoTime();
            long since = now - lastLogged;
            if (since < INTERVAL_NANOS) {
                if (unlogged++ == 0) {
                    GlobalEventExecutor.INSTANCE.schedule(this::logUnlogged, INTERVAL_NANOS - since,
                            TimeUnit.NANOSECONDS);
                }
                return;
            }
            lastLogged = now;
        }
        log.warn(format, args);
    }

    /** Whether the next refusal would be logged as it happens (nothing logged or counted in the last second). */
    synchronized boolean quiet() {
        return unlogged == 0 && System.nanoTime() - lastLogged >= INTERVAL_NANOS;
    }

    private void logUnlogged() {
        int n;
        synchronized (this) {
            n = unlogged;
            unlogged = 0;
            lastLogged = System.nanoTime();
        }
        if (n > 0) {
            log.warn("{} more {} in the last second", n, what);
        }
    }
}
