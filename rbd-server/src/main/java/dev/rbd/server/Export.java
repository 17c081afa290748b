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
import java.io.IOException;
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
        if (owner != null && !owner.equals(client)) {
            return "export '" + name + "' is in use read-write by " + owner + " (" + ownerConnections
                    + " connection(s)); one writer at a time unless the server runs with --shared";
        }
        owner = client;
        ownerConnections++;
        return null;
    }

    /** Releases a claim made by {@link #claim(String)}. */
    public synchronized void release(String client) {
        if (readOnly || shared || owner == null || !owner.equals(client)) {
            return;
        }
        if (--ownerConnections == 0) {
            owner = null;
        }
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
