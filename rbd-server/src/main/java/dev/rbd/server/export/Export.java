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
import dev.rbd.server.store.GoldenFingerprint;
import dev.rbd.server.store.OverlayBlockStore;
import dev.rbd.server.store.PersistentOverlay;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One exported image: its store and group commit, its block size constraints, its {@link WriterLock} (a
 * read-write export serves one client at a time unless it is shared) and its rbd session slots.
 *
 * <p>An export with temporary overlays ({@code overlays=temp}) serves its store, the golden image opened read-only,
 * to no one directly: each connection opens {@link #openTemporaryOverlay()}, an export of its own over a fresh
 * {@link OverlayBlockStore}, which the connection closes (and so discards) when it ends.
 *
 * <p>An export with persistent overlays ({@code overlays=DIR}) serves its golden image read-only under its own name;
 * {@code NAME/CLIENT} is {@link #clientExport(String) the client's own export} over its {@link PersistentOverlay},
 * opened at first use and shared by all of that client's connections, with its own writer lock, sessions and group
 * commit, as a plain read-write export has. It is closed once it has been unused for a while.
 */
public final class Export implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Export.class);
    /** What may follow the '/' of {@code NAME/CLIENT}. */
    public static final Pattern CLIENT_NAME = Pattern.compile("[A-Za-z0-9._-]{1,64}");

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
    /** Where temporary overlays are made, or {@code null}: the export is served as it is. */
    private final Path overlayDir;
    /** One connection's own view (see {@link #openTemporaryOverlay()}). */
    private final boolean connectionView;
    /** The overlays of {@code overlays=DIR}, or {@code null}. */
    private final ClientOverlays<Export> overlays;
    /** For a client's own export: the export with persistent overlays it belongs to, else {@code null}. */
    private final Export parent;
    /** For a client's own export: the client's name. */
    private final String clientName;

    private Export(Builder b) {
        this.access = b.access;
        this.name = b.name;
        this.description = b.description;
        this.store = b.store;
        this.readOnly = b.readOnly;
        this.syncMode = b.syncMode;
        this.blockSizes = b.blockSizes;
        this.overlayDir = b.overlayDir;
        this.connectionView = b.connectionView;
        this.parent = b.parent;
        this.clientName = b.clientName;
        this.sessionGrace = b.sessionGrace;
        this.shared = b.shared;
        this.clientsByIdentity = b.clientsByIdentity;
        this.overlays = b.persistentDir == null ? null : new ClientOverlays<>(name, store, b.persistentDir,
                b.goldenPath,
                b.fingerprint, b.overlayIdle, b.maxOpenOverlays, new ClientViews());
        // overlays are private: their clients never exclude each other
        this.writerLock = new WriterLock(name, b.readOnly || b.shared || b.overlayDir != null || b.connectionView,
                b.sessionGrace);
        this.commit = new GroupCommit(store, name);
    }

    private final Duration sessionGrace;
    private final boolean shared;

    /** A client's own export over its overlay: this export's settings, its own writer lock, sessions and sync. */
    private final class ClientViews implements ClientOverlays.Views<Export> {
        @Override
        public Export open(String client, OverlayBlockStore overlay) {
            Builder b = builder(name + "/" + client, overlay).description(description).syncMode(syncMode)
                    .blockSizes(blockSizes).access(access).sessionGrace(sessionGrace);
            b.parent = Export.this;
            b.clientName = client;
            return b.build();
        }

        @Override
        public boolean held(Export e) {
            return e.writerLock.held();
        }
    }
    private final boolean clientsByIdentity;

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

    /** Whether each connection gets its own temporary overlay ({@code overlays=temp}). */
    public boolean temporaryOverlays() {
        return overlayDir != null;
    }

    /** Whether clients have persistent overlays here ({@code overlays=DIR}): {@code NAME/CLIENT} opens one. */
    public boolean persistentOverlays() {
        return overlays != null;
    }

    /**
     * Whether a connection may open {@code NAME/CLIENT} only when its verified TLS identity (certificate CN) is CLIENT
     * ({@code clients=cn}).
     */
    public boolean clientsByIdentity() {
        return clientsByIdentity;
    }

    /** Whether {@code NAME/CLIENT} names a client's overlay of this export (temporary or persistent). */
    public boolean hasOverlays() {
        return overlayDir != null || overlays != null;
    }

    /** Whether this is one connection's view of an export, closed when the connection ends. */
    public boolean connectionView() {
        return connectionView;
    }

    /**
     * A connection that used this export has ended and none of its requests still runs: a connection's own export
     * (a temporary overlay) is closed on {@code io}, or here if the server is stopping; other exports stay open.
     */
    public void connectionEnded(Executor io) {
        if (parent != null) {
            parent.overlays.release(clientName, this);
        }
        if (connectionView) {
            try {
                io.execute(this::close);
            } catch (RejectedExecutionException e) {
                close();
            }
        }
    }

    /**
     * A connection's own export: a fresh temporary overlay over this export's golden image, with this export's name,
     * description, sizes and rules. Closing it discards the overlay; the golden image stays open.
     *
     * @throws IllegalStateException this export has no temporary overlays
     * @throws IOException           the overlay file cannot be made
     */
    public Export openTemporaryOverlay() throws IOException {
        if (overlayDir == null) {
            throw new IllegalStateException("export " + name + " has no temporary overlays");
        }
        OverlayBlockStore overlay = OverlayBlockStore.temporary(store, false, overlayDir);
        Builder b = builder(name, overlay).description(description).syncMode(syncMode).blockSizes(blockSizes)
                .access(access);
        b.connectionView = true;
        return b.build();
    }

    /**
     * A connection is about to be served this export: a client's own export counts it, so that it stays open while
     * in use. Returns {@code false} when the export was closed meanwhile (unused too long): look it up again.
     */
    public boolean connectionStarted() {
        return parent == null || parent.overlays.acquire(clientName, this);
    }

    /**
     * The export of {@code client}'s persistent overlay ({@code NAME/CLIENT}), opened (and the overlay made) if it is
     * not open yet.
     *
     * @throws IllegalStateException this export has no persistent overlays, or {@code client} is not a client name
     * @throws OverlayUnavailableException the overlay cannot be opened: its golden image changed, it is damaged, in use
     *                               by another process, or cannot be made
     */
    public Export clientExport(String client) throws OverlayUnavailableException {
        if (overlays == null) {
            throw new IllegalStateException("export " + name + " has no persistent overlays");
        }
        if (!CLIENT_NAME.matcher(client).matches()) {
            throw new IllegalStateException("not a client name: " + client);
        }
        return overlays.open(client);
    }

    /** The persistent overlays open now, for tests and status. */
    public List<String> openOverlays() {
        return overlays == null ? List.of() : overlays.openClients();
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
     * handle and one sync: a FLUSH on any connection covers the writes replied to on all of them. Not for temporary
     * overlays: each connection sees its own data, so a client must not spread one image over several connections.
     *
     * @param readOnlyConnection the connection only reads (rbd's READ_ONLY_INTENT): READ_ONLY is added to the
     *                           export's own flags, which stay as they are so the client still learns what the
     *                           export can do
     */
    public int transmissionFlags(boolean structuredReplies, boolean readOnlyConnection) {
        int flags = FLAG_HAS_FLAGS | FLAG_SEND_FLUSH | FLAG_SEND_FUA | FLAG_SEND_CACHE;
        if (overlayDir == null && !connectionView) {
            flags |= FLAG_CAN_MULTI_CONN;
        }
        if (readOnlyConnection) {
            flags |= FLAG_READ_ONLY;
        }
        if (readOnly) {
            flags |= FLAG_READ_ONLY;
        } else {
            flags |= FLAG_SEND_WRITE_ZEROES;
            // what each connection's overlay will offer (OverlayBlockStore can both)
            if (overlayDir != null || store.canTrim()) {
                flags |= FLAG_SEND_TRIM;
            }
            if (overlayDir != null || store.canFastZero()) {
                flags |= FLAG_SEND_FAST_ZERO;
            }
        }
        if (structuredReplies) {
            flags |= FLAG_SEND_DF;
        }
        return flags;
    }

    /**
     * Syncs (unless read-only, or its writes are discarded anyway: a temporary overlay) and closes the store. The
     * golden image of an export with temporary overlays is read-only: it is closed, never synced.
     */
    @Override
    public void close() {
        if (overlays != null) {
            overlays.closeAll();
        }
        try {
            commit.close();
            if (commit.syncs() > 0 && !connectionView) {
                long n = commit.syncs();
                log.info("export {}: {} durable requests were served by {} syncs ({} per sync; {} µs per sync,"
                        + " {} µs gathering before it)", name, commit.requests(), n,
                        String.format("%.1f", (double) commit.requests() / n), commit.syncingNanos() / n / 1000,
                        commit.gatheringNanos() / n / 1000);
            }
            if (!readOnly && overlayDir == null && !connectionView && commit.failure() == null) {
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

    /** How many clients' persistent overlays one export keeps open at most, by default. */
    public static final int DEFAULT_MAX_OPEN_OVERLAYS = 1024;

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
        private Path overlayDir;
        private boolean connectionView;
        private Path persistentDir;
        private Path goldenPath;
        private GoldenFingerprint fingerprint;
        private Duration overlayIdle = Duration.ofSeconds(30);
        private int maxOpenOverlays = DEFAULT_MAX_OPEN_OVERLAYS;
        private Export parent;
        private String clientName;
        private boolean clientsByIdentity;

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

        /**
         * Each connection gets its own temporary overlay over the store (which must be opened read-only), made in
         * {@code dir}; {@code null} (the default) serves the store itself.
         */
        public Builder temporaryOverlays(Path dir) {
            overlayDir = dir;
            return this;
        }

        /**
         * Each client ({@code NAME/CLIENT}) gets its own persistent overlay in {@code dir} over the store, the golden
         * image at {@code goldenPath} (opened read-only), whose fingerprint is {@code fingerprint}. The export itself
         * serves the golden image read-only.
         */
        public Builder persistentOverlays(Path dir, Path goldenPath, GoldenFingerprint fingerprint) {
            persistentDir = dir;
            this.goldenPath = goldenPath;
            this.fingerprint = fingerprint;
            readOnly = true;
            return this;
        }

        /**
         * How long a client's overlay stays open once none of its connections is left and no session holds its writer
         * lock (default 30 s): longer than a handshake may take, so one that looked it up still finds it open.
         */
        public Builder overlayIdle(Duration d) {
            overlayIdle = d;
            return this;
        }

        /** {@code NAME/CLIENT} only for the connection whose verified TLS identity is CLIENT. */
        public Builder clientsByIdentity(boolean b) {
            clientsByIdentity = b;
            return this;
        }

        /**
         * At most this many clients' overlays open at once, and in the overlay directory (default
         * {@value #DEFAULT_MAX_OPEN_OVERLAYS}).
         */
        public Builder maxOpenOverlays(int n) {
            maxOpenOverlays = n;
            return this;
        }

        public Export build() {
            return new Export(this);
        }
    }
}
