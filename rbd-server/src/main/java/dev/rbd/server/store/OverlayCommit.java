package dev.rbd.server.store;

import dev.rbd.protocol.NbdString;
import dev.rbd.server.store.OverlayMap.State;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Writes a client's view of an overlay export, the golden image with the client's {@link PersistentOverlay} over it,
 * as a new standalone image ({@code rbd-server overlays commit}): the next golden version, or a machine's own disk.
 *
 * <p>The image is sparse: blocks the client trimmed or zeroed, holes of the golden image (SEEK_DATA) and blocks of
 * all zeroes are left as holes. It is written to {@code NEW_IMAGE.tmp-XXXXXXXX} beside {@code NEW_IMAGE}, synced,
 * renamed into place and the directory synced, so {@code NEW_IMAGE} is either absent or complete. While it reads,
 * it holds a shared lock on the overlay's data file, which a server's exclusive lock excludes: an overlay in use is
 * refused, and no server opens it until the commit is done. The golden image is opened read-only (a shared lock) and
 * must be the one the overlay was made over (its {@link GoldenFingerprint}), before and after the copy.
 */
public final class OverlayCommit {
    /** Bytes copied at a time; zero blocks inside a chunk are skipped 4 KiB at a time. */
    private static final int CHUNK = 1 << 20;

    /**
     * What a commit wrote.
     *
     * @param size        the new image's size (the golden image's)
     * @param fromGolden  bytes of data copied from the golden image
     * @param fromOverlay bytes of data copied from the overlay (written by the client)
     */
    public record Result(Path golden, long size, long fromGolden, long fromOverlay) {
    }

    private OverlayCommit() {
    }

    /**
     * Writes {@code client}'s overlay in {@code dir} over its golden image to {@code newImage}.
     *
     * @throws NoSuchFileException        there is no overlay of {@code client}, or its golden image is gone
     * @throws FileAlreadyExistsException {@code newImage} exists, or the overlay is in use
     * @throws GoldenChangedException     the golden image changed since the overlay was made
     * @throws CorruptOverlayException    the overlay's files are damaged
     * @throws IllegalArgumentException   {@code client} is not a client name
     */
    public static Result commit(Path dir, String client, Path newImage) throws IOException {
        Path map = PersistentOverlay.mapFile(dir, client);
        Path data = PersistentOverlay.dataFile(dir, client);
        String what = "overlay of client '" + client + "'";
        if (!Files.exists(map)) {
            throw new NoSuchFileException(map.toString(), null, "no overlay of client '" + client + "'");
        }
        Path parent = newImage.toAbsolutePath().getParent();
        if (!Files.isDirectory(parent)) {
            throw new NoSuchFileException(parent.toString(), null, "no such directory for the new image");
        }
        if (Files.exists(newImage, LinkOption.NOFOLLOW_LINKS)) {
            throw new FileAlreadyExistsException(newImage.toString(), null, "exists already (a commit writes a new "
                    + "image; remove it first or choose another name)");
        }
        if (!Files.exists(data)) {
            throw new CorruptOverlayException(what + ": " + map.getFileName() + " is there but "
                    + data.getFileName() + ", the data it maps, is missing");
        }
        try (FileChannel dataCh = FileChannel.open(data, StandardOpenOption.READ)) {
            FileLock lock = lockShared(dataCh, data, client);
            try (FileChannel mapCh = FileChannel.open(map, StandardOpenOption.READ)) {
                PersistentOverlay.Header h = PersistentOverlay.readHeader(mapCh, what);
                if (!h.client().equals(client)) {
                    throw new CorruptOverlayException(what + ": its map belongs to client '"
                            + NbdString.printable(h.client()) + "'");
                }
                long size = h.golden().size();
                long blocks = (size + OverlayMap.BLOCK - 1) / OverlayMap.BLOCK;
                long expected = PersistentOverlay.MAP_OFFSET + FileOverlayMap.bytes(blocks);
                if (mapCh.size() != expected) {
                    throw new CorruptOverlayException(what + ": " + map.getFileName() + " is " + mapCh.size()
                            + " bytes, not " + expected);
                }
                if (dataCh.size() != size) {
                    throw new CorruptOverlayException(what + ": " + data.getFileName() + " is " + dataCh.size()
                            + " bytes, not the golden image's " + size);
                }
                Path goldenPath = Path.of(h.goldenPath());
                String golden = NbdString.printable(h.goldenPath());
                if (!Files.exists(goldenPath)) {
                    throw new NoSuchFileException(golden, null, "the golden image of the " + what
                            + " is missing; it can only be reset");
                }
                try (FileBlockStore g = FileBlockStore.open(goldenPath, true);
                     FileOverlayMap m = FileOverlayMap.load(mapCh, PersistentOverlay.MAP_OFFSET, blocks, what)) {
                    checkGolden(h, goldenPath, what, "changed since");
                    Path tmp = parent.resolve(newImage.getFileName() + ".tmp-"
                            + String.format("%08x", ThreadLocalRandom.current().nextInt()));
                    try {
                        Path journal = OverlayJournal.file(dir, client);
                        long[] copied = write(g, dataCh, m, tmp, journal,
                                OverlayJournal.scanFile(journal, h.created(), what));
                        // a writer that takes no lock could have changed it meanwhile: then the copy is garbage
                        checkGolden(h, goldenPath, what, "changed while it was being copied");
                        Files.move(tmp, newImage);   // no REPLACE_EXISTING: an image made meanwhile is kept
                        FileBlockStore.syncDirectory(parent);
                        return new Result(goldenPath, size, copied[0], copied[1]);
                    } catch (IOException | RuntimeException e) {
                        Files.deleteIfExists(tmp);
                        throw e;
                    }
                }
            } finally {
                lock.release();
            }
        }
    }

    /** The shared lock a server's exclusive one excludes; refused while a server (or a reset) has it. */
    private static FileLock lockShared(FileChannel ch, Path data, String client) throws IOException {
        FileLock lock;
        try {
            lock = ch.tryLock(0, Long.MAX_VALUE, true);
        } catch (OverlappingFileLockException e) {
            lock = null;   // this process has it open
        }
        if (lock == null) {
            throw new FileAlreadyExistsException(data.toString(), null, PersistentOverlay.inUse(client));
        }
        return lock;
    }

    private static void checkGolden(PersistentOverlay.Header h, Path goldenPath, String what, String when)
            throws IOException {
        String changed = h.golden().difference(GoldenFingerprint.of(goldenPath));
        if (changed != null) {
            throw new GoldenChangedException(what + " was made over the golden image "
                    + NbdString.printable(h.goldenPath()) + ", which " + when + ": " + changed + ". Nothing was "
                    + "written; an overlay reads as garbage over another image, so it can only be reset");
        }
    }

    /** Writes the sparse image to {@code tmp} and syncs it; returns the data bytes from the golden and the overlay. */
    private static long[] write(FileBlockStore golden, FileChannel data, FileOverlayMap map, Path tmp, Path journal,
                                java.util.TreeMap<Long, Long> journaled) throws IOException {
        long size = golden.size();
        long[] copied = new long[2];
        try (FileChannel out = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
             FileChannel in = FileChannel.open(golden.path(), StandardOpenOption.READ)) {
            try (RandomAccessFile f = new RandomAccessFile(tmp.toFile(), "rw")) {
                f.setLength(size);
            }
            Copy copy = new Copy(out);
            IOException[] failed = new IOException[1];
            map.runs(0, map.blocks(), (b, count, state) -> {
                if (failed[0] != null) {
                    return;
                }
                long from = b * OverlayMap.BLOCK;
                long to = Math.min(size, (b + count) * OverlayMap.BLOCK);
                try {
                    if (state == State.DATA) {
                        copied[1] += copy.range(data, from, to);
                    } else if (state == State.GOLDEN) {
                        copied[0] += goldenData(golden, in, copy, from, to);
                    }
                    // ZERO: a hole of the new file
                } catch (IOException e) {
                    failed[0] = e;
                }
            });
            if (failed[0] != null) {
                throw failed[0];
            }
            // blocks whose newest content a crash left in the journal (the next open would replay them)
            if (!journaled.isEmpty()) {
                try (FileChannel j = FileChannel.open(journal, StandardOpenOption.READ)) {
                    int slots = OverlayJournal.slots(j, journal.getFileName().toString());
                    ByteBuffer b = ByteBuffer.allocate(OverlayMap.BLOCK);
                    for (java.util.Map.Entry<Long, Long> e : journaled.entrySet()) {
                        long at = e.getKey() * OverlayMap.BLOCK;
                        if (at >= size) {
                            throw new CorruptOverlayException(journal.getFileName() + " names block " + e.getKey()
                                    + ", past the image's end");
                        }
                        b.clear().limit((int) Math.min(OverlayMap.BLOCK, size - at));
                        OverlayJournal.readData(j, slots, e.getValue(), b);
                        b.flip();
                        copied[1] += b.remaining();
                        while (b.hasRemaining()) {
                            out.write(b, at + b.position());
                        }
                    }
                }
            }
            out.force(true);
        }
        return copied;
    }

    /** Copies the data of the golden image in {@code [from, to)}, its holes left out; returns the bytes written. */
    private static long goldenData(FileBlockStore golden, FileChannel in, Copy copy, long from, long to)
            throws IOException {
        long n = 0;
        long pos = from;
        while (pos < to) {
            Extents e = new Extents(pos, to - pos, 1024);
            golden.allocation(e);
            for (int i = 0; i < e.count(); i++) {
                long end = pos + e.length(i);
                if ((e.flags(i) & BlockStore.STATE_HOLE) == 0) {
                    n += copy.range(in, pos, end);
                }
                pos = end;
            }
            if (e.count() == 0) {
                n += copy.range(in, pos, to);   // nothing described: read it all
                pos = to;
            }
        }
        return n;
    }

    /** Copies ranges at the same offset into the new file, leaving blocks of zeroes out (they read as zeroes there). */
    private static final class Copy {
        private final FileChannel out;
        private final ByteBuffer buf = ByteBuffer.allocateDirect(CHUNK);

        Copy(FileChannel out) {
            this.out = out;
        }

        /** Returns the bytes written: those of blocks not all zero. */
        long range(FileChannel in, long from, long to) throws IOException {
            long written = 0;
            for (long pos = from; pos < to; ) {
                int n = (int) Math.min(CHUNK, to - pos);
                buf.clear().limit(n);
                while (buf.hasRemaining()) {
                    if (in.read(buf, pos + buf.position()) < 0) {
                        throw new IOException("end of file at " + (pos + buf.position()) + " (the file shrank?)");
                    }
                }
                for (int at = 0; at < n; at += OverlayMap.BLOCK) {
                    int len = Math.min(OverlayMap.BLOCK, n - at);
                    if (!zero(buf, at, len)) {
                        ByteBuffer part = buf.duplicate().limit(at + len).position(at);
                        while (part.hasRemaining()) {
                            out.write(part, pos + part.position());
                        }
                        written += len;
                    }
                }
                pos += n;
            }
            return written;
        }

        private static boolean zero(ByteBuffer b, int at, int len) {
            int i = at;
            for (; i + 8 <= at + len; i += 8) {
                if (b.getLong(i) != 0) {
                    return false;
                }
            }
            for (; i < at + len; i++) {
                if (b.get(i) != 0) {
                    return false;
                }
            }
            return true;
        }
    }
}
