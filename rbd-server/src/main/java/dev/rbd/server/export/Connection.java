package dev.rbd.server.export;

import dev.rbd.protocol.NbdString;
import io.netty.channel.Channel;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.util.AttributeKey;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Who a connection is and what it did: its id and peer for log lines, its address, Unix user and TLS identity for
 * the access rules, the client identity the writer lock is keyed on (the rbd session, when the client sent one, and
 * the TLS identity, when it has one), byte counters for the closing log line, its requests in flight, and what
 * fences it.
 */
public final class Connection {
    private static final AttributeKey<Connection> KEY = AttributeKey.valueOf(Connection.class, "connection");
    private static final AtomicLong IDS = new AtomicLong();

    private final long id = IDS.incrementAndGet();
    private final String peer;
    private final String client;
    private final long startNanos = System.nanoTime();
    private final AtomicLong bytesRead = new AtomicLong();
    private final AtomicLong bytesWritten = new AtomicLong();
    private final AtomicLong requests = new AtomicLong();
    private volatile Channel channel;
    private volatile InetAddress address;
    private volatile long uid = -1;
    private volatile UUID session;
    private volatile boolean readOnly;
    private volatile String identity;
    private volatile Fenceable fenceable;
    // Touched on the channel's event loop only.
    private int inFlight;
    private CompletableFuture<Void> idle;

    /**
     * @param peer   the remote address as text
     * @param client the identity for the writer lock: the source address (TCP) or the peer's uid and pid (Unix)
     */
    public Connection(String peer, String client) {
        this.peer = peer;
        this.client = client;
    }

    /** The connection bound to {@code ch}, or {@code null}. */
    public static Connection of(Channel ch) {
        return ch.attr(KEY).get();
    }

    /** Binds the channel; until the transmission phase, fencing simply closes it. */
    public Connection bind(Channel ch) {
        channel = ch;
        if (ch.remoteAddress() instanceof InetSocketAddress a) {
            address = a.getAddress();
        } else if (ch instanceof EpollDomainSocketChannel d) {
            try {
                uid = d.peerCredentials().uid();
            } catch (IOException e) {
                uid = -1; // unknown: no uid: rule names it
            }
        }
        ch.attr(KEY).set(this);
        fenceable = () -> {
            ch.close();
            return CompletableFuture.completedFuture(new Fenced(0, 0));
        };
        return this;
    }

    Channel channel() {
        return channel;
    }

    /** Replaces what fences this connection (the transmission phase knows about requests in flight). */
    public void fenceable(Fenceable f) {
        fenceable = f;
    }

    Fenceable fenceable() {
        return fenceable;
    }

    public long id() {
        return id;
    }

    public String peer() {
        return peer;
    }

    /** The TCP peer's address, or {@code null} (a Unix-socket peer). */
    public InetAddress address() {
        return address;
    }

    /** The Unix-socket peer's user id, or {@code -1} (a TCP peer, or not known). */
    public long uid() {
        return uid;
    }

    /**
     * The writer lock's notion of this client: its rbd session, else its source address or Unix peer. With a TLS
     * identity, the identity stands for the address (connections with one certificate CN are one client wherever
     * they come from) and is part of the session's key.
     */
    public String client() {
        UUID s = session;
        String cn = identity;
        if (s != null) {
            return cn == null ? "session " + s : "session " + s + " cn:" + cn;
        }
        return cn == null ? client : "cn:" + cn;
    }

    /** This client as messages and log lines name it: its session's tag (never its id), else {@link #client()}. */
    public String label() {
        UUID s = session;
        String cn = identity;
        if (s != null) {
            return SessionTag.of(s);
        }
        return cn == null ? client : "cn:" + NbdString.printable(cn);
    }

    /** The peer as refusals log it: its TLS identity when it has one, else its address or Unix user. */
    public String who() {
        String cn = identity;
        return cn == null ? peer + (uid >= 0 ? " (uid " + uid + ")" : "") : "cn:" + NbdString.printable(cn) + " at "
                + peer;
    }

    public UUID session() {
        return session;
    }

    public void session(UUID id) {
        session = id;
    }

    /** The subject CN of the client's verified TLS certificate, or {@code null} without one. */
    public String identity() {
        return identity;
    }

    /** Set once the TLS handshake verified a client certificate. */
    public void identity(String cn) {
        identity = cn;
    }

    /** Whether the client said this connection only reads (rbd's READ_ONLY_INTENT): it holds no writer lock. */
    public boolean readOnly() {
        return readOnly;
    }

    public void readOnly(boolean b) {
        readOnly = b;
    }

    public long ageMillis() {
        return (System.nanoTime() - startNanos) / 1_000_000;
    }

    /** Data bytes read from the export for this client. */
    public AtomicLong bytesRead() {
        return bytesRead;
    }

    /** Data bytes written to the export by this client. */
    public AtomicLong bytesWritten() {
        return bytesWritten;
    }

    public AtomicLong requests() {
        return requests;
    }

    /** A request was handed to the dispatcher; on the event loop. */
    public void started() {
        inFlight++;
    }

    /**
     * A request finished and its reply is written; on the event loop. Returns the requests still in flight. A drain
     * waiting for this connection hears of it in a later task, after the reply's flush.
     */
    public int finished() {
        if (--inFlight == 0 && idle != null) {
            CompletableFuture<Void> f = idle;
            channel.eventLoop().execute(() -> f.complete(null));
        }
        return inFlight;
    }

    /** Requests handed to the dispatcher and not yet finished; on the event loop. */
    public int inFlight() {
        return inFlight;
    }

    /** Completes once no request of this connection is in flight; callable from any thread. */
    CompletableFuture<Void> idle() {
        Channel ch = channel;
        CompletableFuture<Void> done = new CompletableFuture<>();
        if (ch == null) {
            done.complete(null);
            return done;
        }
        try {
            ch.eventLoop().execute(() -> {
                if (inFlight == 0) {
                    done.complete(null);
                } else {
                    if (idle == null || idle.isDone()) {
                        idle = new CompletableFuture<>();
                    }
                    idle.whenComplete((v, e) -> done.complete(null));
                }
            });
        } catch (RejectedExecutionException e) {
            done.complete(null); // its event loop is gone, and its requests with it
        }
        return done;
    }
}
