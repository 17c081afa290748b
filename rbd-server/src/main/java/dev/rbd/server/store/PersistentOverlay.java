package dev.rbd.server.store;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import java.util.zip.CRC32C;

/**
 * A client's persistent overlay in an overlay directory: {@code CLIENT.overlay}, a sparse file of the golden image's
 * size holding the blocks the client wrote, and {@code CLIENT.map}, which says what the overlay was made over and,
 * per 4 KiB block, where the block reads from ({@link FileOverlayMap}). The map file exists only once the overlay is
 * complete: it is written aside and renamed into place, so an overlay half made by a crash is made again.
 *
 * <p>The map file starts with two 2048-byte header slots; a header update writes the slot that does not hold the
 * newest header, so a crash during it leaves the other. A slot: magic {@code RBDOVMAP}, version (1), block size,
 * sequence number, the golden image's {@link GoldenFingerprint} (size, modification time, sample hash), created and
 * last opened (milliseconds since the epoch), the golden image's path and the client's name (each a 2-byte length and
 * UTF-8), and a CRC32C of all that. The block map follows at byte 4096.
 *
 * <p>An open overlay holds the lock {@link FileBlockStore} takes on its {@code .overlay} file: a second server, and
 * {@code rbd-server overlays reset}/{@code commit}, refuse an overlay in use.
 */
public final class PersistentOverlay {
    /** What a client name may be (the part after the '/' of {@code NAME/CLIENT}). */
    public static final Pattern CLIENT_NAME = Pattern.compile("[A-Za-z0-9._-]{1,64}");
    static final String DATA_SUFFIX = ".overlay";
    static final String MAP_SUFFIX = ".map";
    private static final byte[] MAGIC = "RBDOVMAP".getBytes(StandardCharsets.US_ASCII);
    private static final int VERSION = 1;
    private static final int SLOT = 2048;
    static final long MAP_OFFSET = 2 * SLOT;
    private static final int MAX_PATH_BYTES = 1024;

    /**
     * One header of a map file.
     *
     * @param seq        incremented by each update; the newer valid slot wins
     * @param golden     the golden image the overlay was made over
     * @param goldenPath where that image was (for messages and {@code overlays commit})
     * @param client     the client's name
     * @param created    when the overlay was made, ms since the epoch
     * @param lastOpened when a server last opened it, ms since the epoch
     */
    public record Header(long seq, GoldenFingerprint golden, String goldenPath, String client, long created,
                         long lastOpened) {
    }

    private PersistentOverlay() {
    }

    public static Path dataFile(Path dir, String client) {
        return dir.resolve(checkClient(client) + DATA_SUFFIX);
    }

    public static Path mapFile(Path dir, String client) {
        return dir.resolve(checkClient(client) + MAP_SUFFIX);
    }

    private static String checkClient(String client) {
        if (!CLIENT_NAME.matcher(client).matches()) {
            throw new IllegalArgumentException("not a client name: '" + dev.rbd.protocol.NbdString.printable(client)
                    + "' (expected: 1 to 64 of A-Z a-z 0-9 . _ -)");
        }
        return client;
    }

    /** The clients with an overlay in {@code dir} (a {@code CLIENT.map}), sorted. */
    public static List<String> clients(Path dir) throws IOException {
        List<String> names = new ArrayList<>();
        try (Stream<Path> files = Files.list(dir)) {
            files.forEach(f -> {
                String n = f.getFileName().toString();
                if (n.endsWith(MAP_SUFFIX)) {
                    String c = n.substring(0, n.length() - MAP_SUFFIX.length());
                    if (CLIENT_NAME.matcher(c).matches()) {
                        names.add(c);
                    }
                }
            });
        }
        names.sort(null);
        return names;
    }

    /**
     * Checks that overlays can be made in {@code dir}: it exists, is a directory, and this process may create files
     * in it.
     */
    public static void checkDirectory(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            throw new NoSuchFileException(dir.toString(), null, "overlay directory does not exist");
        }
        if (!Files.isWritable(dir) || !Files.isExecutable(dir)) {
            throw new AccessDeniedException(dir.toString(), null, "overlay directory is not writable");
        }
    }

    /**
     * Opens {@code client}'s overlay in {@code dir} over {@code golden}, making it if there is none.
     *
     * @param golden      the golden image, opened read-only (not closed with the overlay)
     * @param goldenPath  its path, recorded in a new overlay
     * @param fingerprint the golden image's fingerprint now
     * @throws GoldenChangedException  the overlay was made over another golden image, or this one changed since
     * @throws CorruptOverlayException the overlay's files are damaged
     * @throws IOException             the files cannot be made or opened (in use, not writable, disk full)
     */
    public static OverlayBlockStore open(Path dir, String client, BlockStore golden, Path goldenPath,
                                         GoldenFingerprint fingerprint) throws IOException {
        Path data = dataFile(dir, client);
        Path map = mapFile(dir, client);
        if (golden.size() != fingerprint.size()) {
            throw new IllegalArgumentException("fingerprint of " + fingerprint.size() + " bytes for a golden image"
                    + " of " + golden.size());
        }
        if (!Files.exists(map)) {
            // none yet, or one a crash left half made: its data file and journal mean nothing without a map
            OverlayJournal.delete(dir, client);
            Files.deleteIfExists(data);
            FileBlockStore.createSparse(data, golden.size());
        } else if (!Files.exists(data)) {
            throw new CorruptOverlayException(what(client) + ": " + map.getFileName() + " is there but "
                    + data.getFileName() + ", the data it maps, is missing");
        }
        FileBlockStore overlay = FileBlockStore.open(data, false);   // takes the lock: one user at a time
        FileChannel ch = null;
        OverlayJournal journal = null;
        FileOverlayMap m = null;
        try {
            long blocks = (golden.size() + OverlayMap.BLOCK - 1) / OverlayMap.BLOCK;
            long now = System.currentTimeMillis();
            if (!Files.exists(map)) {
                // the data file's size first: once the map is in place, a data file cut short by a power loss
                // would have the overlay refused as damaged
                overlay.sync();
                create(map, blocks, new Header(1, fingerprint, goldenPath.toAbsolutePath().toString(), client, now,
                        now));
            }
            ch = FileChannel.open(map, StandardOpenOption.READ, StandardOpenOption.WRITE);
            Header h = readHeader(ch, what(client));
            if (!h.client().equals(client)) {
                throw new CorruptOverlayException(what(client) + ": its map belongs to client '"
                        + dev.rbd.protocol.NbdString.printable(h.client()) + "'");
            }
            String changed = h.golden().difference(fingerprint);
            if (changed != null) {
                throw new GoldenChangedException(what(client) + " was made over the golden image "
                        + h.goldenPath() + ", which changed since: " + changed + ". Its blocks would read as garbage"
                        + " over another image; reset it (rbd-server overlays reset " + dir + " " + client
                        + ") or commit it over the image it was made for");
            }
            // after the golden check: a golden image of another size is a changed golden, not a damaged overlay
            if (overlay.size() != golden.size()) {
                throw new CorruptOverlayException(what(client) + ": " + data.getFileName() + " is " + overlay.size()
                        + " bytes, not the golden image's " + golden.size());
            }
            long expected = MAP_OFFSET + FileOverlayMap.bytes(blocks);
            if (ch.size() != expected) {
                throw new CorruptOverlayException(what(client) + ": " + map.getFileName() + " is " + ch.size()
                        + " bytes, not " + expected);
            }
            // a map made sparse (by an older rbd) gets its pages now, while the client can still be told why not
            allocate(map, expected, false);
            m = FileOverlayMap.load(ch, MAP_OFFSET, blocks, what(client));
            Path journalFile = OverlayJournal.file(dir, client);
            journal = OverlayJournal.open(journalFile, h.created(), what(client));
            if (journal != null) {
                // what a crash left in the journal goes where a checkpoint would have put it
                OverlayJournaling.replay(journal, overlay, m, what(client));
            }
            writeHeader(ch, new Header(h.seq() + 1, h.golden(), h.goldenPath(), client, h.created(), now));
            ch.force(false);
            return new OverlayBlockStore(golden, false, overlay, m, new OverlayJournaling(journalFile, h.created(),
                    OverlayJournal.slotsFor(blocks), journal, overlay, m, what(client)));
        } catch (IOException | RuntimeException e) {
            if (journal != null) {
                journal.close();
            }
            if (m != null) {
                m.close();
            } else if (ch != null) {
                ch.close();
            }
            overlay.close();
            throw e;
        }
    }

    private static String what(String client) {
        return "overlay of client '" + client + "'";
    }

    /** Writes a new map file: aside, synced, then renamed into place and the directory synced. */
    private static void create(Path map, long blocks, Header h) throws IOException {
        Path tmp = map.resolveSibling(map.getFileName() + ".new");
        Files.deleteIfExists(tmp);
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.READ,
                StandardOpenOption.WRITE)) {
            writeHeader(ch, h);
            long size = MAP_OFFSET + FileOverlayMap.bytes(blocks);
            ch.write(ByteBuffer.allocate(1), size - 1);   // the map is all GOLDEN (zero)
            allocate(tmp, size, true);
            ch.force(true);
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(tmp);
            throw e;
        }
        Files.move(tmp, map, StandardCopyOption.ATOMIC_MOVE);
        FileBlockStore.syncDirectory(map.toAbsolutePath().getParent());
    }

    /**
     * Gives the map file {@code map} of {@code size} bytes all its blocks on disk (fallocate), so that a sync never
     * needs new space to write a page: on a full file system that sync would fail, and a failed sync fails the
     * client's export for good, where a full disk should fail only the writes that do not fit. Where fallocate is not
     * to be had, a new map ({@code fresh}: all zeroes) is written with zeroes; an existing one is left as it is.
     *
     * @throws IOException no room for the map (the overlay cannot be made or opened now)
     */
    private static void allocate(Path map, long size, boolean fresh) throws IOException {
        if (NativeIo.available()) {
            int fd = -1;
            try {
                fd = NativeIo.open(map.toString(), NativeIo.O_RDWR | NativeIo.O_CLOEXEC);
                NativeIo.fallocate(fd, NativeIo.FALLOC_FL_KEEP_SIZE, MAP_OFFSET, size - MAP_OFFSET);
                return;
            } catch (com.sun.jna.LastErrorException e) {
                if (!NativeIo.isUnsupported(e.getErrorCode())) {
                    throw new IOException(map.getFileName() + ": cannot store the block map: "
                            + (e.getErrorCode() == ENOSPC ? "No space left on device" : e.getMessage()), e);
                }
            } finally {
                if (fd >= 0) {
                    NativeIo.close(fd);
                }
            }
        }
        if (fresh) {
            try (FileChannel ch = FileChannel.open(map, StandardOpenOption.WRITE)) {
                ByteBuffer zeroes = ByteBuffer.allocate(FileOverlayMap.PAGE * 16);
                for (long at = MAP_OFFSET; at < size; at += zeroes.capacity()) {
                    zeroes.clear().limit((int) Math.min(zeroes.capacity(), size - at));
                    while (zeroes.hasRemaining()) {
                        ch.write(zeroes, at + zeroes.position());
                    }
                }
            }
        }
    }

    private static final int ENOSPC = 28;

    /** Reads the newest valid header of the map file {@code path}. */
    public static Header readHeader(Path path) throws IOException {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            return readHeader(ch, path.getFileName().toString());
        }
    }

    static Header readHeader(FileChannel ch, String what) throws IOException {
        Header best = null;
        String why = null;
        for (int slot = 0; slot < 2; slot++) {
            ByteBuffer b = ByteBuffer.allocate(SLOT);
            while (b.hasRemaining() && ch.read(b, (long) slot * SLOT + b.position()) > 0) {
                // reads to the end of the slot or of the file
            }
            b.flip();
            try {
                Header h = parse(b);
                if (best == null || h.seq() > best.seq()) {
                    best = h;
                }
            } catch (CorruptOverlayException e) {
                why = why == null ? e.getMessage() : why;
            }
        }
        if (best == null) {
            throw new CorruptOverlayException(what + ": no valid header (" + why + ")");
        }
        return best;
    }

    private static Header parse(ByteBuffer b) throws CorruptOverlayException {
        try {
            byte[] magic = new byte[MAGIC.length];
            b.get(magic);
            if (!java.util.Arrays.equals(magic, MAGIC)) {
                throw new CorruptOverlayException("not an rbd overlay map");
            }
            int version = b.getInt();
            if (version != VERSION) {
                throw new CorruptOverlayException("map version " + version + " (this rbd reads " + VERSION + ")");
            }
            int block = b.getInt();
            if (block != OverlayMap.BLOCK) {
                throw new CorruptOverlayException("block size " + block + " (expected " + OverlayMap.BLOCK + ")");
            }
            long seq = b.getLong();
            long size = b.getLong();
            long mtime = b.getLong();
            byte[] sample = new byte[GoldenFingerprint.SAMPLE_BYTES];
            b.get(sample);
            long created = b.getLong();
            long lastOpened = b.getLong();
            String path = string(b, MAX_PATH_BYTES);
            String client = string(b, 64);
            int end = b.position();
            int crc = b.getInt();
            CRC32C c = new CRC32C();
            c.update(b.array(), 0, end);
            if ((int) c.getValue() != crc) {
                throw new CorruptOverlayException("header checksum mismatch");
            }
            if (size < 0) {
                throw new CorruptOverlayException("negative golden size");
            }
            return new Header(seq, new GoldenFingerprint(size, mtime, sample), path, client, created, lastOpened);
        } catch (java.nio.BufferUnderflowException e) {
            throw new CorruptOverlayException("header cut short");
        }
    }

    private static String string(ByteBuffer b, int max) throws CorruptOverlayException {
        int n = Short.toUnsignedInt(b.getShort());
        if (n > max) {
            throw new CorruptOverlayException("a header string of " + n + " bytes (at most " + max + ")");
        }
        byte[] s = new byte[n];
        b.get(s);
        return new String(s, StandardCharsets.UTF_8);
    }

    /** Writes {@code h} into the slot its sequence number picks (odd: 0, even: 1); the caller syncs. */
    static void writeHeader(FileChannel ch, Header h) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(SLOT);
        b.put(MAGIC).putInt(VERSION).putInt(OverlayMap.BLOCK).putLong(h.seq());
        GoldenFingerprint g = h.golden();
        b.putLong(g.size()).putLong(g.mtime()).put(g.sample()).putLong(h.created()).putLong(h.lastOpened());
        putString(b, h.goldenPath(), MAX_PATH_BYTES);
        putString(b, h.client(), 64);
        CRC32C c = new CRC32C();
        c.update(b.array(), 0, b.position());
        b.putInt((int) c.getValue());
        b.position(0).limit(SLOT);
        long at = (h.seq() & 1) == 1 ? 0 : SLOT;
        while (b.hasRemaining()) {
            ch.write(b, at + b.position());
        }
    }

    private static void putString(ByteBuffer b, String s, int max) {
        byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
        if (bytes.length > max) {
            // a path longer than the header keeps: its end says the most
            bytes = java.util.Arrays.copyOfRange(bytes, bytes.length - max, bytes.length);
        }
        b.putShort((short) bytes.length).put(bytes);
    }

    /**
     * What {@code rbd-server overlays list} shows of one overlay.
     *
     * @param blocksWritten blocks that read from the overlay (written or zeroed by the client)
     * @param bytesUsed     bytes of data in the two files, their holes left out
     * @param inUse         a server (or another command) has it open
     */
    public record Info(String client, Header header, long blocksWritten, long bytesUsed, boolean inUse) {
    }

    /**
     * Reads {@code client}'s overlay in {@code dir} without opening it for use.
     *
     * @throws CorruptOverlayException its files are damaged, or its data file is missing
     */
    public static Info info(Path dir, String client) throws IOException {
        Path map = mapFile(dir, client);
        Path data = dataFile(dir, client);
        try (FileChannel ch = FileChannel.open(map, StandardOpenOption.READ)) {
            Header h = readHeader(ch, what(client));
            if (!h.client().equals(client)) {
                throw new CorruptOverlayException(what(client) + ": its map belongs to client '"
                        + dev.rbd.protocol.NbdString.printable(h.client()) + "'");
            }
            long blocks = (h.golden().size() + OverlayMap.BLOCK - 1) / OverlayMap.BLOCK;
            long expected = MAP_OFFSET + FileOverlayMap.bytes(blocks);
            if (ch.size() != expected) {
                throw new CorruptOverlayException(what(client) + ": " + map.getFileName() + " is " + ch.size()
                        + " bytes, not " + expected);
            }
            if (!Files.exists(data)) {
                throw new CorruptOverlayException(what(client) + ": " + map.getFileName() + " is there but "
                        + data.getFileName() + ", the data it maps, is missing");
            }
            if (Files.size(data) != h.golden().size()) {
                throw new CorruptOverlayException(what(client) + ": " + data.getFileName() + " is "
                        + Files.size(data) + " bytes, not the golden image's " + h.golden().size());
            }
            long written;
            Path journal = OverlayJournal.file(dir, client);
            try (FileOverlayMap m = FileOverlayMap.load(ch, MAP_OFFSET, blocks, what(client))) {
                long[] counts = m.counts();
                written = counts[1] + counts[2];
                // blocks whose first write is still in the journal (a server has them, or a crash left them)
                for (long b : OverlayJournal.scanFile(journal, h.created(), what(client)).keySet()) {
                    if (b < blocks && m.get(b) == OverlayMap.State.GOLDEN) {
                        written++;
                    }
                }
            }
            long used = allocated(map) + allocated(data) + (Files.exists(journal) ? allocated(journal) : 0);
            return new Info(client, h, written, used, inUse(data));
        }
    }

    /**
     * Bytes of {@code p} that hold data: its data ranges found with lseek SEEK_DATA/SEEK_HOLE (Java has no st_blocks:
     * there is no "unix:blocks" attribute), or its size where that cannot be asked.
     */
    static long allocated(Path p) throws IOException {
        long size = Files.size(p);
        if (!NativeIo.available()) {
            return size;
        }
        int fd;
        try {
            fd = NativeIo.open(p.toString(), NativeIo.O_RDONLY | NativeIo.O_CLOEXEC);
        } catch (com.sun.jna.LastErrorException e) {
            return size;
        }
        long used = 0;
        try {
            long pos = 0;
            while (pos < size) {
                long data = NativeIo.lseek(fd, pos, NativeIo.SEEK_DATA);
                long hole = NativeIo.lseek(fd, data, NativeIo.SEEK_HOLE);
                used += hole - data;
                pos = hole;
            }
            return used;
        } catch (com.sun.jna.LastErrorException e) {
            // ENXIO: no data past pos; anything else (no SEEK_DATA here): count it all
            return e.getErrorCode() == NativeIo.ENXIO ? used : size;
        } finally {
            NativeIo.close(fd);
        }
    }

    /** What reset and commit say of an overlay a server has open. */
    static String inUse(String client) {
        return what(client) + " is in use (a server has it open); disconnect the client first, then wait until the "
                + "server closes it (rbd-server export --overlay-idle after its last connection)";
    }

    /** Whether a process holds the lock of the overlay's data file (a server serving it). */
    public static boolean inUse(Path data) throws IOException {
        if (!Files.exists(data)) {
            return false;
        }
        try (FileChannel ch = FileChannel.open(data, StandardOpenOption.READ)) {
            FileLock l = ch.tryLock(0, Long.MAX_VALUE, true);
            if (l == null) {
                return true;
            }
            l.release();
            return false;
        } catch (OverlappingFileLockException e) {
            return true;
        }
    }

    /**
     * Deletes {@code client}'s overlay (the map first: without it, the data file means nothing); the next open makes
     * a fresh one over the golden image as it is then.
     *
     * @throws IOException the overlay is in use, or does not exist
     */
    public static void reset(Path dir, String client) throws IOException {
        Path map = mapFile(dir, client);
        Path data = dataFile(dir, client);
        if (!Files.exists(map)) {
            throw new NoSuchFileException(map.toString(), null, "no overlay of client '" + client + "'");
        }
        try (FileChannel ch = FileChannel.open(data, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            FileLock l;
            try {
                l = ch.tryLock();
            } catch (OverlappingFileLockException e) {
                l = null;
            }
            if (l == null) {
                throw new FileAlreadyExistsException(data.toString(), null, inUse(client));
            }
            Files.delete(map);
            FileBlockStore.syncDirectory(dir);
            OverlayJournal.delete(dir, client);
            Files.delete(data);
        } catch (NoSuchFileException e) {
            // no data file: the map alone was left
            Files.deleteIfExists(map);
            OverlayJournal.delete(dir, client);
        }
        FileBlockStore.syncDirectory(dir);
    }
}
