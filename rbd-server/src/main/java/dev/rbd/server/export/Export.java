package dev.rbd.server.export;

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
import java.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One exported image: its store and group commit, its block size constraints, its {@link WriterLock} (a
 * read-write export serves one client at a time unless it is shared) and its rbd session slots.
 */
public final class Export implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Export.class);

    private final String name;
    private final String description;
    private final BlockStore store;
    private final boolean readOnly;
    private final SyncMode syncMode;
    private final BlockSizes blockSizes;
    private final GroupCommit commit;
    private final WriterLock writerLock;
    private final SessionSlots sessions = new SessionSlots();
    private final AccessRules access;

    private Export(Builder b) {
        this.access = b.access;
        this.name = b.name;
        this.description = b.description;
        this.store = b.store;
        this.readOnly = b.readOnly;
        this.syncMode = b.syncMode;
        this.blockSizes = b.blockSizes;
        this.writerLock = new WriterLock(name, b.readOnly || b.shared, b.sessionGrace);
        this.commit = new GroupCommit(store, name);
    }

    /** An export of {@code store} named {@code name}: read-write, not shared, syncing always, default sizes. */
    public static Builder builder(String name, BlockStore store) {
        return new Builder(name, store);
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

    public WriterLock writerLock() {
        return writerLock;
    }

    SessionSlots sessions() {
        return sessions;
    }

    /** Who may use this export beyond the server's own rules ({@link AccessRules#OPEN}: everyone let in). */
    public AccessRules access() {
        return access;
    }

    /**
     * Whether the connection may use this export (see it in LIST, ask about it, open it): its rules name the
     * connection's address, Unix user or TLS identity.
     */
    public boolean allows(Connection conn) {
        return access.allows(conn.address(), conn.uid(), conn.identity());
    }

    /**
     * The transmission flags for a connection. CAN_MULTI_CONN holds because every connection shares one file
     * handle and one sync: a FLUSH on any connection covers the writes replied to on all of them.
     *
     * @param readOnlyConnection the connection only reads (rbd's READ_ONLY_INTENT): READ_ONLY is added to the
     *                           export's own flags, which stay as they are so the client still learns what the
     *                           export can do
     */
    public int transmissionFlags(boolean structuredReplies, boolean readOnlyConnection) {
        int flags = FLAG_HAS_FLAGS | FLAG_SEND_FLUSH | FLAG_SEND_FUA | FLAG_SEND_CACHE | FLAG_CAN_MULTI_CONN;
        if (readOnlyConnection) {
            flags |= FLAG_READ_ONLY;
        }
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

    /** Settings of an {@link Export}, named; unset ones keep the defaults {@link #builder} lists. */
    public static final class Builder {
        private final String name;
        private final BlockStore store;
        private String description;
        private boolean readOnly;
        private boolean shared;
        private SyncMode syncMode = SyncMode.ALWAYS;
        private BlockSizes blockSizes = BlockSizes.DEFAULT;
        private Duration sessionGrace = Duration.ofSeconds(60);
        private AccessRules access = AccessRules.OPEN;

        private Builder(String name, BlockStore store) {
            this.name = name;
            this.store = store;
            this.description = name;
        }

        public Builder description(String d) {
            description = d;
            return this;
        }

        public Builder readOnly(boolean b) {
            readOnly = b;
            return this;
        }

        /** Whether any number of clients may write at once (the writer lock is not taken). */
        public Builder shared(boolean b) {
            shared = b;
            return this;
        }

        public Builder syncMode(SyncMode m) {
            syncMode = m;
            return this;
        }

        public Builder blockSizes(BlockSizes s) {
            blockSizes = s;
            return this;
        }

        /** How long a session that lost its connections keeps the writer lock (default 60 s; 0 releases at once). */
        public Builder sessionGrace(Duration d) {
            sessionGrace = d;
            return this;
        }

        /** Who may use the export (default: everyone the server lets in). */
        public Builder access(AccessRules rules) {
            access = rules;
            return this;
        }

        public Export build() {
            return new Export(this);
        }
    }
}
