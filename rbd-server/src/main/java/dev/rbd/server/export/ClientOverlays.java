package dev.rbd.server.export;

import dev.rbd.server.store.BlockStore;
import dev.rbd.server.store.CorruptOverlayException;
import dev.rbd.server.store.GoldenChangedException;
import dev.rbd.server.store.GoldenFingerprint;
import dev.rbd.server.store.OverlayBlockStore;
import dev.rbd.server.store.PersistentOverlay;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The clients' exports of an export with persistent overlays: opened on demand, shared by a client's
 * connections, closed (synced) once unused for {@code idle}; at most {@code max} open at once, and at most {@code max}
 * in the directory (a new client beyond that is refused).
 */
final class ClientOverlays<E extends AutoCloseable> {
    private static final Logger log = LoggerFactory.getLogger(ClientOverlays.class);

    /** What a client's overlay is served as, made and asked about by the export that has the overlays. */
    interface Views<E> {
        /** The client's export over its freshly opened overlay. */
        E open(String client, OverlayBlockStore overlay);

        /** Whether a client (or its session awaiting a reconnect) holds the export's writer lock. */
        boolean held(E export);
    }

    /** A client's open export and its use. */
    private static final class Entry<E> {
        final E export;
        int users;
        long lastUsedNanos = System.nanoTime();

        Entry(E export) {
            this.export = export;
        }
    }

    /** The name of the export these overlays are of. */
    private final String name;
    private final BlockStore golden;
    private final Views<E> views;
    private final Path dir;
    private final Path goldenPath;
    private final GoldenFingerprint fingerprint;
    private final long idleNanos;
    private final int max;
    private final Map<String, Entry<E>> open = new HashMap<>();
    /** The golden file's inode when the export opened it (null where the file system has none). */
    private final Object goldenIno;
    /**
     * Overlays the sweeper took out of {@link #open} and is closing: until the close is done their files are still
     * locked, so opening one again waits for it.
     */
    private final Map<String, CompletableFuture<Void>> closing = new HashMap<>();
    private final ScheduledExecutorService sweeper;
    private boolean closed;

    ClientOverlays(String name, BlockStore golden, Path dir, Path goldenPath, GoldenFingerprint fingerprint,
                   Duration idle, int max, Views<E> views) {
        this.name = name;
        this.golden = golden;
        this.views = views;
        this.dir = dir;
        this.goldenPath = goldenPath;
        this.fingerprint = fingerprint;
        this.idleNanos = idle.toNanos();
        this.max = max;
        Object ino;
        try {
            ino = java.nio.file.Files.getAttribute(goldenPath, "unix:ino");
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException e) {
            ino = null;
        }
        this.goldenIno = ino;
        this.sweeper = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "rbd-overlays-" + name);
            t.setDaemon(true);
            return t;
        });
        long period = Math.max(100, Math.min(1000, idle.toMillis() / 2));
        sweeper.scheduleWithFixedDelay(this::sweep, period, period, TimeUnit.MILLISECONDS);
    }

    E open(String client) throws OverlayUnavailableException {
        while (true) {
            CompletableFuture<Void> pending;
            synchronized (this) {
                pending = closing.get(client);
                if (pending == null) {
                    return openNow(client);
                }
            }
            pending.join();    // a close in progress: the same client came back just as it went idle
        }
    }

    private E openNow(String client) throws OverlayUnavailableException {
        synchronized (this) {
            if (closed) {
                throw new OverlayUnavailableException("the server is shutting down", "closed");
            }
            Entry<E> known = open.get(client);
            if (known != null) {
                known.lastUsedNanos = System.nanoTime();
                return known.export;
            }
            String changed = goldenChangedInPlace();
            if (changed != null) {
                throw new OverlayUnavailableException("its golden image was modified while served; the server must be"
                        + " restarted (the server's log says more)", "the golden image " + goldenPath + " "
                        + changed + " since the server opened it: every client's view over it is now"
                        + " undefined. Stop the server, put the image back or reset the overlays (rbd-server"
                        + " overlays reset), and start it again");
            }
            if (!java.nio.file.Files.exists(PersistentOverlay.mapFile(dir, client))) {
                // a new client: the directory is bounded too, or any peer the rules let in could fill the disk
                // with overlays under made-up names (each map takes its full size on disk)
                int held;
                try {
                    held = PersistentOverlay.clients(dir).size();
                } catch (IOException x) {
                    throw new OverlayUnavailableException("its overlay cannot be made (the server's log says why)",
                            dir + ": " + x);
                }
                if (held >= max) {
                    throw new OverlayUnavailableException("the overlay directory holds " + held + " clients' overlays,"
                            + " the most it may (--max-overlays)", dir + " holds " + held + " overlays, --max-overlays "
                            + max + ": a new client's is refused (reset unused ones, or raise the limit)");
                }
            }
            if (open.size() >= max) {
                throw new OverlayUnavailableException("too many clients' overlays are open (" + max + "); try again"
                        + " later",
                        max + " overlays open already");
            }
            // opened under the lock: a client's overlay is opened once, and opening is a few small reads
            OverlayBlockStore store;
            try {
                store = PersistentOverlay.open(dir, client, golden, goldenPath, fingerprint);
            } catch (GoldenChangedException x) {
                throw new OverlayUnavailableException("its overlay was made over a golden image that has changed since;"
                        + " it must be reset or committed (the server's log says more)", x.getMessage());
            } catch (CorruptOverlayException x) {
                throw new OverlayUnavailableException("its overlay is damaged (the server's log says more)",
                        x.getMessage());
            } catch (IOException | RuntimeException x) {
                throw new OverlayUnavailableException("its overlay cannot be opened (the server's log says why)",
                        x.toString());
            }
            E e = views.open(client, store);
            open.put(client, new Entry<>(e));
            log.info("export {}: opened the overlay of client {}", name, client);
            return e;
        }
    }

    /**
     * Whether the golden image file was written since the export opened it: the same file (inode) with another
     * modification time or size. A file put in its place (another inode) is not: the export still reads the
     * one it opened, and a restart checks the overlays against the new one.
     */
    private String goldenChangedInPlace() {
        try {
            Object ino = java.nio.file.Files.getAttribute(goldenPath, "unix:ino");
            if (!ino.equals(goldenIno)) {
                return null;
            }
            long mtime = java.nio.file.Files.getLastModifiedTime(goldenPath).to(TimeUnit.NANOSECONDS);
            long size = java.nio.file.Files.size(goldenPath);
            if (fingerprint.mtime() != 0 && mtime != fingerprint.mtime()) {
                return "was modified (its modification time changed)";
            }
            return fingerprint.mtime() != 0 && size != fingerprint.size() ? "changed size" : null;
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException e) {
            return null;   // gone or unreadable: the open file is what is served
        }
    }

    /**
     * A connection is served {@code client}'s export {@code e}: counted, so that it stays open; {@code false} when
     * {@code e} was closed meanwhile (unused too long).
     */
    synchronized boolean acquire(String client, E e) {
        Entry<E> entry = open.get(client);
        if (entry == null || entry.export != e) {
            return false;
        }
        entry.users++;
        entry.lastUsedNanos = System.nanoTime();
        return true;
    }

    /** A connection served {@code client}'s export {@code e} has ended. */
    synchronized void release(String client, E e) {
        Entry<E> entry = open.get(client);
        if (entry != null && entry.export == e) {
            entry.users--;
            entry.lastUsedNanos = System.nanoTime();
        }
    }

    synchronized List<String> openClients() {
        List<String> names = new ArrayList<>(open.keySet());
        names.addAll(closing.keySet());
        names.sort(null);
        return names;
    }

    /** Closes the overlays unused for {@code idle}: no connection, no session holding the writer lock. */
    private void sweep() {
        Map<String, E> idle = new HashMap<>();
        synchronized (this) {
            long now = System.nanoTime();
            for (Iterator<Map.Entry<String, Entry<E>>> it = open.entrySet().iterator(); it.hasNext(); ) {
                Map.Entry<String, Entry<E>> entry = it.next();
                Entry<E> e = entry.getValue();
                if (e.users == 0 && now - e.lastUsedNanos >= idleNanos && !views.held(e.export)) {
                    it.remove();
                    idle.put(entry.getKey(), e.export);
                    closing.put(entry.getKey(), new CompletableFuture<>());
                }
            }
        }
        idle.forEach((client, e) -> {
            try {
                close(e);
                log.info("export {}: closed the overlay of client {}, unused for {} s", name, client,
                        TimeUnit.NANOSECONDS.toSeconds(idleNanos));
            } finally {
                CompletableFuture<Void> done;
                synchronized (this) {
                    done = closing.remove(client);
                }
                done.complete(null);
            }
        });
    }

    /** At the server's end: every overlay is synced and closed, whoever still uses it. */
    void closeAll() {
        List<E> all = new ArrayList<>();
        synchronized (this) {
            closed = true;
            open.values().forEach(e -> all.add(e.export));
            open.clear();
        }
        sweeper.shutdownNow();
        for (E e : all) {
            close(e);
        }
    }

    private void close(E e) {
        try {
            e.close();
        } catch (Exception x) {
            log.error("export {}: closing a client's overlay failed: {}", name, x.toString());
        }
    }
}
