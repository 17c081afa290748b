package dev.rbd.server;

import static dev.rbd.protocol.NbdConstants.FLAG_CAN_MULTI_CONN;
import static dev.rbd.protocol.NbdConstants.FLAG_HAS_FLAGS;
import static dev.rbd.protocol.NbdConstants.FLAG_READ_ONLY;
import static dev.rbd.protocol.NbdConstants.FLAG_SEND_CACHE;
import static dev.rbd.protocol.NbdConstants.FLAG_SEND_DF;
import static dev.rbd.protocol.NbdConstants.FLAG_SEND_FAST_ZERO;
import static dev.rbd.protocol.NbdConstants.FLAG_SEND_FLUSH;
import static dev.rbd.protocol.NbdConstants.FLAG_SEND_FUA;
import static dev.rbd.protocol.NbdConstants.FLAG_SEND_TRIM;
import static dev.rbd.protocol.NbdConstants.FLAG_SEND_WRITE_ZEROES;

import dev.rbd.server.store.BlockStore;
import dev.rbd.server.store.GroupCommit;
import dev.rbd.server.transmission.ConnectionInfo;
import java.io.IOException;
import java.time.Duration;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.UUID;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One exported image: its store, its group commit, its block size constraints, and its writer lock (a read-write
 * export serves one client at a time, over any number of connections, unless it is shared).
 */
public final class Export implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Export.class);

    private final String name;
    private final String description;
    private final BlockStore store;
    private final boolean readOnly;
    private final boolean shared;
    private final SyncMode syncMode;
    private final BlockSizes blockSizes;
    private final GroupCommit commit;
    private String owner;
    private int ownerConnections;
    private long ownerHeldUntil;
    private Duration sessionGrace = Duration.ofSeconds(60);
    /** rbd sessions seen on this export, the newest epoch and connection of each slot; the oldest are forgotten. */
    private final Map<UUID, Map<Integer, Slot>> sessions = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<UUID, Map<Integer, Slot>> eldest) {
            return size() > 4096;
        }
    };

    private static final class Slot {
        long epoch;
        ConnectionInfo holder;
    }

    /** The outcome of {@link #register}: the connection to fence first (may be {@code null}), or a refusal. */
    public record Registration(ConnectionInfo fence, long previousEpoch, String refusal) {
    }

    public Export(String name, String description, BlockStore store, boolean readOnly, boolean shared,
                  SyncMode syncMode, BlockSizes blockSizes) {
        this.name = name;
        this.description = description;
        this.store = store;
        this.readOnly = readOnly;
        this.shared = shared;
        this.syncMode = syncMode;
        this.blockSizes = blockSizes;
        this.commit = new GroupCommit(store, name);
    }

    public String name() {
        return name;
    }

    public String description() {
        return description;
    }

    public BlockStore store() {
        return store;
    }

    public long size() {
        return store.size();
    }

    public boolean readOnly() {
        return readOnly;
    }

    public SyncMode syncMode() {
        return syncMode;
    }

    public BlockSizes blockSizes() {
        return blockSizes;
    }

    public GroupCommit commit() {
        return commit;
    }

    /**
     * The transmission flags for a connection. CAN_MULTI_CONN holds because every connection shares one file
     * handle and one sync: a FLUSH on any connection covers the writes replied to on all of them.
     */
    public int transmissionFlags(boolean structuredReplies) {
        int flags = FLAG_HAS_FLAGS | FLAG_SEND_FLUSH | FLAG_SEND_FUA | FLAG_SEND_CACHE | FLAG_CAN_MULTI_CONN;
        if (readOnly) {
            flags |= FLAG_READ_ONLY;
        } else {
            flags |= FLAG_SEND_WRITE_ZEROES;
            if (store.canTrim()) {
                flags |= FLAG_SEND_TRIM;
            }
            if (store.canFastZero()) {
                flags |= FLAG_SEND_FAST_ZERO;
            }
        }
        if (structuredReplies) {
            flags |= FLAG_SEND_DF;
        }
        return flags;
    }

    /**
     * Claims the export for a connection of {@code client}. Read-only and shared exports take anyone; a read-write
     * export takes connections of its current owner only.
     *
     * @return {@code null} when granted, else the reason for the refusal
     */
    public synchronized String claim(String client) {
        if (readOnly || shared) {
            return null;
        }
        if (owner != null && ownerConnections == 0 && System.nanoTime() - ownerHeldUntil >= 0) {
            owner = null; // a session's hold ran out without it coming back
        }
        if (owner != null && !owner.equals(client)) {
            return "export '" + name + "' is in use read-write by " + owner + (ownerConnections > 0
                    ? " (" + ownerConnections + " connection(s))"
                    : " (held for its reconnect, " + Math.max(1, (ownerHeldUntil - System.nanoTime()) / 1_000_000_000)
                    + " s left)") + "; one writer at a time unless the server runs with --shared";
        }
        owner = client;
        ownerConnections++;
        return null;
    }

    /**
     * Releases a claim made by {@link #claim(String)}, once the connection's requests have all finished. An rbd
     * session that lost its last connection without saying goodbye (no DISC) keeps the lock for the session grace
     * period, so it can reconnect and replay while other clients stay refused.
     */
    public synchronized void release(String client, boolean clean) {
        if (readOnly || shared || owner == null || !owner.equals(client)) {
            return;
        }
        if (--ownerConnections == 0) {
            if (!clean && client.startsWith("session ") && !sessionGrace.isZero()) {
                ownerHeldUntil = System.nanoTime() + sessionGrace.toNanos();
                log.info("export {}: {} lost its connections; writer lock held for {} s for its reconnect", name,
                        client, sessionGrace.toSeconds());
            } else {
                owner = null;
            }
        }
    }

    /** How long a session that lost its connections keeps the writer lock (default 60 s; 0 releases at once). */
    public synchronized Export sessionGrace(Duration d) {
        sessionGrace = d;
        return this;
    }

    /**
     * Registers a connection of an rbd session on one of its slots. The epoch must be newer (unsigned) than every
     * epoch seen on that slot; the slot's previous connection, if any, is returned to be fenced.
     */
    public synchronized Registration register(UUID session, int slot, long epoch, ConnectionInfo conn) {
        Map<Integer, Slot> slots = sessions.computeIfAbsent(session, k -> new HashMap<>());
        Slot s = slots.get(slot);
        if (s != null && Long.compareUnsigned(epoch, s.epoch) <= 0) {
            return new Registration(null, s.epoch, "epoch " + Long.toUnsignedString(epoch) + " of session "
                    + session + " slot " + slot + " is not newer than " + Long.toUnsignedString(s.epoch)
                    + ": a stale connection");
        }
        if (s == null) {
            s = new Slot();
            slots.put(slot, s);
        }
        long previous = s.epoch;
        ConnectionInfo old = s.holder;
        s.epoch = epoch;
        s.holder = conn;
        return new Registration(old, previous, null);
    }

    /** The client that holds the writer lock, or {@code null}. */
    public synchronized String owner() {
        return owner;
    }

    /** Syncs (unless read-only) and closes the store. */
    @Override
    public void close() {
        try {
            commit.close();
            if (commit.syncs() > 0) {
                long n = commit.syncs();
                log.info("export {}: {} durable requests were served by {} syncs ({} per sync; {} µs per sync,"
                        + " {} µs gathering before it)", name, commit.requests(), n,
                        String.format("%.1f", (double) commit.requests() / n), commit.syncingNanos() / n / 1000,
                        commit.gatheringNanos() / n / 1000);
            }
            if (!readOnly && commit.failure() == null) {
                store.sync();
            }
        } catch (IOException e) {
            log.error("export {}: final sync failed: {}", name, e.toString());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            try {
                store.close();
            } catch (IOException e) {
                log.error("export {}: close failed: {}", name, e.toString());
            }
        }
    }
}
