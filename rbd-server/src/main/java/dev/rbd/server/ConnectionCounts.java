package dev.rbd.server;

import dev.rbd.protocol.NbdString;
import dev.rbd.server.export.Limits;
import io.netty.channel.Channel;
import io.netty.util.concurrent.GlobalEventExecutor;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The connections open now, in all and per source address, against {@link Limits}. A connection over a limit is
 * still greeted, so its client reads why it was refused, but at most {@link #MAX_REFUSING} such connections are kept
 * open at once; beyond that one is closed at once. Every count is released when its channel closes. Refusals are
 * logged at most once a second per reason: the first with its peer, the rest of that second as one count.
 */
public final class ConnectionCounts {
    private static final Logger log = LoggerFactory.getLogger(ConnectionCounts.class);

    /** Refused connections kept open to be told why: each costs a socket until its client reads the refusal. */
    static final int MAX_REFUSING = 64;

    /** What to do with a new connection. */
    public record Verdict(boolean admitted, boolean closeNow, String refusal) {
        static final Verdict ADMIT = new Verdict(true, false, null);
        static final Verdict CLOSE = new Verdict(false, true, null);
        static final Verdict NOT_ALLOWED = new Verdict(false, true, "no --allow rule names it");

        static Verdict refuse(String message) {
            return new Verdict(false, false, message);
        }
    }

    private enum Reason {
        TOTAL, PER_ADDRESS, TOO_MANY_REFUSED, NOT_ALLOWED
    }

    private static final long LOG_INTERVAL_NANOS = TimeUnit.SECONDS.toNanos(1);

    private final Limits limits;
    private final Map<String, Integer> perAddress = new HashMap<>();
    private final long[] lastLogged = new long[Reason.values().length];
    private final int[] unlogged = new int[Reason.values().length];
    private int open;
    private int refusing;

    public ConnectionCounts(Limits limits) {
        this.limits = limits;
        long now = System.nanoTime();
        for (int i = 0; i < lastLogged.length; i++) {
            lastLogged[i] = now - 2 * LOG_INTERVAL_NANOS;
        }
    }

    /**
     * Counts a new connection from {@code address} ({@code null}: not limited per address, e.g. a Unix socket peer)
     * and releases the count when {@code ch} closes.
     */
    public Verdict admit(Channel ch, String address, String peer) {
        Verdict v;
        Reason reason = null;
        synchronized (this) {
            int fromAddress = address == null ? 0 : perAddress.getOrDefault(address, 0);
            if (open >= limits.maxConnections()) {
                reason = Reason.TOTAL;
                v = Verdict.refuse("rbd-server is at its limit of " + limits.maxConnections() + " connections");
            } else if (fromAddress >= limits.maxConnectionsPerAddress()) {
                reason = Reason.PER_ADDRESS;
                v = Verdict.refuse("rbd-server is at its limit of " + limits.maxConnectionsPerAddress()
                        + " connections from one address");
            } else {
                v = Verdict.ADMIT;
            }
            if (v.admitted()) {
                open++;
                if (address != null) {
                    perAddress.put(address, fromAddress + 1);
                }
            } else if (refusing < MAX_REFUSING) {
                refusing++;
            } else {
                reason = Reason.TOO_MANY_REFUSED;
                v = Verdict.CLOSE;
            }
        }
        if (reason != null) {
            logRefusal(reason, peer, v);
        }
        if (!v.closeNow()) {
            Verdict counted = v;
            ch.closeFuture().addListener(f -> release(counted, address));
        }
        return v;
    }

    /**
     * Logs (rate-limited, as every refusal) a connection the access rules refuse; it is closed before the greeting
     * and never counted.
     */
    public void notAllowed(String peer) {
        logRefusal(Reason.NOT_ALLOWED, peer, Verdict.NOT_ALLOWED);
    }

    private synchronized void release(Verdict v, String address) {
        if (!v.admitted()) {
            refusing--;
            return;
        }
        open--;
        if (address != null) {
            perAddress.computeIfPresent(address, (a, n) -> n > 1 ? n - 1 : null);
        }
    }

    private void logRefusal(Reason reason, String peer, Verdict v) {
        int i = reason.ordinal();
        synchronized (lastLogged) {
            long now = System.nanoTime();
            long sinceLogged = now - lastLogged[i];
            if (sinceLogged < LOG_INTERVAL_NANOS) {
                if (unlogged[i]++ == 0) {
                    // the ones left out are counted in one line when the second is over
                    GlobalEventExecutor.INSTANCE.schedule(() -> logUnlogged(reason, v),
                            LOG_INTERVAL_NANOS - sinceLogged, TimeUnit.NANOSECONDS);
                }
                return;
            }
            lastLogged[i] = now;
        }
        log.warn("connection from {} {}", NbdString.printable(peer), describe(v));
    }

    private void logUnlogged(Reason reason, Verdict v) {
        int i = reason.ordinal();
        int n;
        synchronized (lastLogged) {
            n = unlogged[i];
            unlogged[i] = 0;
            lastLogged[i] = System.nanoTime();
        }
        if (n > 0) {
            log.warn("{} more connection(s) in the last second {}", n, describe(v));
        }
    }

    private static String describe(Verdict v) {
        if (v == Verdict.NOT_ALLOWED) {
            return "closed before the greeting: " + v.refusal();
        }
        return v.closeNow() ? "closed at once: " + MAX_REFUSING + " refused connections are already open"
                : "refused: " + v.refusal();
    }

    /** Connections counted now (handshaking or transmitting, refused ones not included). */
    public synchronized int open() {
        return open;
    }

    /** Connections counted now from {@code address}. */
    public synchronized int openFrom(String address) {
        return perAddress.getOrDefault(address, 0);
    }

    /** Refused connections still open (being told why). */
    public synchronized int refusing() {
        return refusing;
    }
}
