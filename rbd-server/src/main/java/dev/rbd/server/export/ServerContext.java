package dev.rbd.server.export;

import io.netty.channel.Channel;
import io.netty.channel.group.ChannelGroup;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;

/** What every connection's handlers share: the exports, limits, the I/O executor, and the server's state. */
public final class ServerContext {
    private final Map<String, Export> exports = new LinkedHashMap<>();
    private final ExecutorService io;
    private final ChannelGroup channels;
    private final Duration handshakeTimeout;
    private final long maxInFlightBytes;
    private final MemoryBudget memory;
    private final Limits limits;
    private final ServerTls tls;
    private volatile boolean draining;
    private final long instance = new java.security.SecureRandom().nextLong();

    public ServerContext(Collection<Export> exports, ExecutorService io, ChannelGroup channels,
                         Duration handshakeTimeout, long maxInFlightBytes) {
        this(exports, io, channels, handshakeTimeout, maxInFlightBytes, new MemoryBudget(MemoryBudget.defaultMax()));
    }

    public ServerContext(Collection<Export> exports, ExecutorService io, ChannelGroup channels,
                         Duration handshakeTimeout, long maxInFlightBytes, MemoryBudget memory) {
        this(exports, io, channels, handshakeTimeout, maxInFlightBytes, memory, Limits.DEFAULT);
    }

    public ServerContext(Collection<Export> exports, ExecutorService io, ChannelGroup channels,
                         Duration handshakeTimeout, long maxInFlightBytes, MemoryBudget memory, Limits limits) {
        this(exports, io, channels, handshakeTimeout, maxInFlightBytes, memory, limits, ServerTls.OFF);
    }

    public ServerContext(Collection<Export> exports, ExecutorService io, ChannelGroup channels,
                         Duration handshakeTimeout, long maxInFlightBytes, MemoryBudget memory, Limits limits,
                         ServerTls tls) {
        for (Export e : exports) {
            if (this.exports.putIfAbsent(e.name(), e) != null) {
                throw new IllegalArgumentException("two exports are named '" + e.name() + "'");
            }
        }
        if (this.exports.isEmpty()) {
            throw new IllegalArgumentException("no exports");
        }
        this.io = io;
        this.channels = channels;
        this.handshakeTimeout = handshakeTimeout;
        this.maxInFlightBytes = maxInFlightBytes;
        this.memory = memory;
        this.limits = limits;
        this.tls = tls;
    }

    /**
     * The export of that name; the empty name is the default export (the first one). {@code NAME/CLIENT} is the
     * export NAME when it has overlays and CLIENT is a client name ({@link Export#CLIENT_NAME}); export names never
     * hold a '/'. For persistent overlays, the client's own export is {@link Export#clientExport(String)}: looked up
     * only once the connection is known to be allowed (it makes the overlay).
     */
    public Export export(String name) {
        if (name.isEmpty()) {
            return exports.values().iterator().next();
        }
        Export e = exports.get(name);
        int slash = name.indexOf('/');
        if (e != null || slash < 0) {
            return e;
        }
        Export base = exports.get(name.substring(0, slash));
        return base != null && base.hasOverlays()
                && Export.CLIENT_NAME.matcher(name.substring(slash + 1)).matches() ? base : null;
    }

    /**
     * The export an {@code NAME/CLIENT} with a CLIENT that is not a client name asks for, when NAME has overlays;
     * else {@code null}.
     */
    public Export overlayExportOf(String name) {
        int slash = name.indexOf('/');
        if (slash < 0) {
            return null;
        }
        Export base = exports.get(name.substring(0, slash));
        return base != null && base.hasOverlays() ? base : null;
    }

    public Collection<Export> exports() {
        return exports.values();
    }

    /** A random number for this server's lifetime: a client that sees it change knows the server restarted. */
    public long instance() {
        return instance;
    }

    public ExecutorService io() {
        return io;
    }

    public ChannelGroup channels() {
        return channels;
    }

    public Duration handshakeTimeout() {
        return handshakeTimeout;
    }

    /** Request bytes (write payloads and read lengths) one connection may have in flight before reading pauses. */
    public long maxInFlightBytes() {
        return maxInFlightBytes;
    }

    /** The ceiling on request and reply bytes all connections hold together. */
    public MemoryBudget memory() {
        return memory;
    }

    /** Connection counts and the idle and stall timeouts. */
    public Limits limits() {
        return limits;
    }

    /** Whether STARTTLS is offered or required, and the context its handshakes use. */
    public ServerTls tls() {
        return tls;
    }

    /** The server is shutting down: no new exports are opened, new requests get ESHUTDOWN. */
    public boolean draining() {
        return draining;
    }

    /**
     * Starts draining: new requests get ESHUTDOWN from now on. The future completes once no connection has a
     * request in flight.
     */
    public CompletableFuture<Void> startDraining() {
        draining = true;
        List<CompletableFuture<Void>> idle = new ArrayList<>();
        for (Channel ch : channels) {
            Connection c = Connection.of(ch);
            if (c != null) {
                idle.add(c.idle());
            }
        }
        return CompletableFuture.allOf(idle.toArray(new CompletableFuture<?>[0]));
    }
}
