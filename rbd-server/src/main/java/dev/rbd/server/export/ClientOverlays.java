package dev.rbd.server.export;

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
 * connections, closed (synced) once unused for {@code idle}, at most {@code max} open at once.
 */
final class ClientOverlays {
    private static final Logger log = LoggerFactory.getLogger(ClientOverlays.class);

    /** The export with persistent overlays these are of. */
    private final Export owner;
    private final Path dir;
    private final Path goldenPath;
    private final GoldenFingerprint fingerprint;
    private final long idleNanos;
    private final int max;
    private final Map<String, Export> open = new HashMap<>();
    /** The golden file's inode when the export opened it (null where the file system has none). */
    private final Object goldenIno;
    /**
     * Overlays the sweeper took out of {@link #open} and is closing: until the close is done their files are still
     * locked, so opening one again waits for it.
     */
    private final Map<String, CompletableFuture<Void>> closing = new HashMap<>();
    private final ScheduledExecutorService sweeper;
    private boolean closed;

    ClientOverlays(Export owner, Path dir, Path goldenPath, GoldenFingerprint fingerprint, Duration idle, int max) {
        this.owner = owner;
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
            Thread t = new Thread(r, "rbd-overlays-" + owner.name());
            t.setDaemon(true);
            return t;
        });
        long period = Math.max(100, Math.min(1000, idle.toMillis() / 2));
        sweeper.scheduleWithFixedDelay(this::sweep, period, period, TimeUnit.MILLISECONDS);
    }

    Export open(String client) throws Export.Unavailable {
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

    private Export openNow(String client) throws Export.Unavailable {
        synchronized (this) {
            if (closed) {
                throw new Export.Unavailable("the server is shutting down", "closed");
            }
            Export e = open.get(client);
            if (e != null) {
                e.lastUsedNanos = System.nanoTime();
                return e;
            }
            String changed = goldenChangedInPlace();
            if (changed != null) {
                throw new Export.Unavailable("its golden image was modified while served; the server must be"
                        + " restarted (the server's log says more)", "the golden image " + goldenPath + " "
                        + changed + " since the server opened it: every client's view over it is now"
                        + " undefined. Stop the server, put the image back or reset the overlays (rbd-server"
                        + " overlays reset), and start it again");
            }
            if (open.size() >= max) {
                throw new Export.Unavailable("too many clients' overlays are open (" + max + "); try again later",
                        max + " overlays open already");
            }
            // opened under the lock: a client's overlay is opened once, and opening is a few small reads
            OverlayBlockStore store;
            try {
                store = PersistentOverlay.open(dir, client, owner.store(), goldenPath, fingerprint);
            } catch (GoldenChangedException x) {
                throw new Export.Unavailable("its overlay was made over a golden image that has changed since;"
                        + " it must be reset or committed (the server's log says more)", x.getMessage());
            } catch (CorruptOverlayException x) {
                throw new Export.Unavailable("its overlay is damaged (the server's log says more)", x.getMessage());
            } catch (IOException | RuntimeException x) {
                throw new Export.Unavailable("its overlay cannot be opened (the server's log says why)", x.toString());
            }
            Export.Builder b = Export.builder(owner.name() + "/" + client, store).description(owner.description())
                    .syncMode(owner.syncMode()).blockSizes(owner.blockSizes()).access(owner.access())
                    .sessionGrace(owner.sessionGrace());
            b.parent = owner;
            e = b.build();
            open.put(client, e);
            log.info("export {}: opened the overlay of client {}", owner.name(), client);
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

    synchronized boolean acquire(Export e) {
        if (e.retired) {
            return false;
        }
        e.users++;
        e.lastUsedNanos = System.nanoTime();
        return true;
    }

    synchronized void release(Export e) {
        e.users--;
        e.lastUsedNanos = System.nanoTime();
    }

    synchronized List<String> openClients() {
        List<String> names = new ArrayList<>(open.keySet());
        names.addAll(closing.keySet());
        names.sort(null);
        return names;
    }

    /** Closes the overlays unused for {@code idle}: no connection, no session holding the writer lock. */
    private void sweep() {
        Map<String, Export> idle = new HashMap<>();
        synchronized (this) {
            long now = System.nanoTime();
            for (Iterator<Map.Entry<String, Export>> it = open.entrySet().iterator(); it.hasNext(); ) {
                Map.Entry<String, Export> entry = it.next();
                Export e = entry.getValue();
                if (e.users == 0 && now - e.lastUsedNanos >= idleNanos && !e.writerLock().held()) {
                    e.retired = true;
                    it.remove();
                    idle.put(entry.getKey(), e);
                    closing.put(entry.getKey(), new CompletableFuture<>());
                }
            }
        }
        idle.forEach((client, e) -> {
            try {
                e.close();
                log.info("export {}: closed the overlay of {}, unused for {} s", owner.name(), e.name(),
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
        List<Export> all;
        synchronized (this) {
            closed = true;
            all = new ArrayList<>(open.values());
            all.forEach(e -> e.retired = true);
            open.clear();
        }
        sweeper.shutdownNow();
        for (Export e : all) {
            e.close();
        }
    }
}
