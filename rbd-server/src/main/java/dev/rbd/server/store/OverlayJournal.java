package dev.rbd.server.store;

import io.netty.buffer.ByteBuf;
import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.zip.CRC32C;

/**
 * The write-ahead journal of a persistent overlay, {@code CLIENT.journal}: a ring of fixed slots, each holding one
 * 4 KiB block the client wrote and which block it is. A write that would change the block map (a block's first
 * write) goes here instead of into the sparse overlay file, so acknowledging it takes one fdatasync of a file whose
 * space was written once at creation: no file-system allocation, no second sync of the map. A checkpoint later copies
 * the blocks to the overlay file, makes the map say DATA, and moves the journal's tail past them.
 *
 * <p>Layout: two 2048-byte header slots (as the map file's: the newer valid one wins) with magic {@code RBDOVJNL},
 * version, slot count, header sequence, tail (the first record sequence not yet checkpointed), the overlay's
 * creation time (a journal left by an older overlay of the same client is not this one's) and a CRC32C. Slots
 * follow at byte 4096, {@value #RECORD} bytes each: record {@code seq} lives in slot {@code seq % slots}. A record is
 * a 64-byte header (magic, sequence, block number, CRC32C of those and the data) and the block's 4096 bytes.
 *
 * <p>Crash rules: a record counts only if its checksum holds, its sequence lies in {@code [tail, tail + slots)} and
 * it sits in its own slot. A record torn by a crash was not acknowledged (its acknowledgement waits for an fdatasync
 * begun after its write), so skipping it leaves that block at its previous content; records left from an earlier lap
 * of the ring have sequences below the tail. Replaying applies, per block, the newest valid record.
 */
final class OverlayJournal implements Closeable {
    static final String SUFFIX = ".journal";
    /** Bytes of a record: header and one block. */
    static final int RECORD = 64 + OverlayMap.BLOCK;
    static final int RECORD_HEADER = 64;
    /** Slots of a new journal at most: 32 MiB of blocks. */
    static final int MAX_SLOTS = 8192;
    /** Slots of a new journal at least. */
    static final int MIN_SLOTS = 64;
    private static final byte[] MAGIC = "RBDOVJNL".getBytes(StandardCharsets.US_ASCII);
    private static final int VERSION = 1;
    private static final int SLOT = 2048;
    static final long RECORDS_AT = 2 * SLOT;
    private static final int RECORD_MAGIC = 0x524a4e4c;   // "RJNL"

    private final FileChannel channel;
    private final Path path;
    private final int slots;
    private final long created;
    private long headerSeq;
    /** The first sequence not checkpointed: slots of lower sequences may be reused. */
    private volatile long tail;
    /** The next sequence to hand out. */
    private final AtomicLong next;

    private OverlayJournal(FileChannel channel, Path path, int slots, long created, long headerSeq, long tail,
                           long next) {
        this.channel = channel;
        this.path = path;
        this.slots = slots;
        this.created = created;
        this.headerSeq = headerSeq;
        this.tail = tail;
        this.next = new AtomicLong(next);
    }

    /** Slots of a new journal for an image of {@code blocks} blocks: an eighth of them, within the bounds. */
    static int slotsFor(long blocks) {
        return (int) Math.max(MIN_SLOTS, Math.min(MAX_SLOTS, blocks / 8));
    }

    /** {@code client}'s journal in {@code dir}; {@code client} is a checked client name. */
    static Path file(Path dir, String client) {
        return dir.resolve(client + SUFFIX);
    }

    static long fileSize(int slots) {
        return RECORDS_AT + (long) slots * RECORD;
    }

    /**
     * Makes a journal of {@code slots} slots at {@code file}: written whole with zeroes aside (so that no later write
     * into it allocates), synced, renamed into place and the directory synced.
     */
    static void create(Path file, int slots, long created) throws IOException {
        Path tmp = file.resolveSibling(file.getFileName() + ".new");
        Files.deleteIfExists(tmp);
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.READ,
                StandardOpenOption.WRITE)) {
            ByteBuffer zeroes = ByteBuffer.allocateDirect(1 << 20);
            long size = fileSize(slots);
            for (long at = 0; at < size; at += zeroes.capacity()) {
                zeroes.clear().limit((int) Math.min(zeroes.capacity(), size - at));
                while (zeroes.hasRemaining()) {
                    ch.write(zeroes, at + zeroes.position());
                }
            }
            writeHeader(ch, 1, slots, 1, created);
            ch.force(true);
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(tmp);
            throw e;
        }
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE);
        FileBlockStore.syncDirectory(file.toAbsolutePath().getParent());
    }

    /** Removes {@code client}'s journal and any half-made one. */
    static void delete(Path dir, String client) throws IOException {
        Path f = file(dir, client);
        Files.deleteIfExists(f.resolveSibling(f.getFileName() + ".new"));
        Files.deleteIfExists(f);
    }

    /**
     * Opens the journal at {@code file} for the overlay made at {@code created}, or returns {@code null} when there is
     * none or it is an older overlay's (then it is deleted: its records belong to an overlay that is gone).
     *
     * @throws CorruptOverlayException no valid header, or a size that does not match it
     */
    static OverlayJournal open(Path file, long created, String what) throws IOException {
        Files.deleteIfExists(file.resolveSibling(file.getFileName() + ".new"));
        if (!Files.exists(file)) {
            return null;
        }
        FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE);
        try {
            long[] h = readHeader(ch, what);
            if (h[3] != created) {
                ch.close();
                Files.delete(file);
                return null;
            }
            int slots = (int) h[1];
            if (ch.size() != fileSize(slots)) {
                throw new CorruptOverlayException(what + ": " + file.getFileName() + " is " + ch.size()
                        + " bytes, not " + fileSize(slots));
            }
            return new OverlayJournal(ch, file, slots, created, h[0], h[2], h[2]);
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
    }

    /** The header's {seq, slots, tail, created}, from the newer valid slot. */
    private static long[] readHeader(FileChannel ch, String what) throws IOException {
        long[] best = null;
        for (int s = 0; s < 2; s++) {
            ByteBuffer b = ByteBuffer.allocate(SLOT);
            while (b.hasRemaining() && ch.read(b, (long) s * SLOT + b.position()) > 0) {
                // to the end of the slot or of the file
            }
            b.flip();
            if (b.remaining() < 48) {
                continue;
            }
            byte[] magic = new byte[MAGIC.length];
            b.get(magic);
            int version = b.getInt();
            int slots = b.getInt();
            long seq = b.getLong();
            long tail = b.getLong();
            long created = b.getLong();
            int crc = b.getInt();
            CRC32C c = new CRC32C();
            c.update(b.array(), 0, 40);
            if (!Arrays.equals(magic, MAGIC) || version != VERSION || (int) c.getValue() != crc || slots <= 0
                    || tail < 1) {
                continue;
            }
            if (best == null || seq > best[0]) {
                best = new long[] {seq, slots, tail, created};
            }
        }
        if (best == null) {
            throw new CorruptOverlayException(what + ": its journal has no valid header");
        }
        return best;
    }

    private static void writeHeader(FileChannel ch, long seq, int slots, long tail, long created) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(SLOT);
        b.put(MAGIC).putInt(VERSION).putInt(slots).putLong(seq).putLong(tail).putLong(created);
        CRC32C c = new CRC32C();
        c.update(b.array(), 0, b.position());
        b.putInt((int) c.getValue());
        b.position(0).limit(SLOT);
        long at = (seq & 1) == 1 ? 0 : SLOT;
        while (b.hasRemaining()) {
            ch.write(b, at + b.position());
        }
    }

    int slots() {
        return slots;
    }

    long tail() {
        return tail;
    }

    /** Records handed out and not checkpointed. */
    long used() {
        return next.get() - tail;
    }

    /** The next sequence to be handed out. */
    long next() {
        return next.get();
    }

    /**
     * Hands out {@code n} consecutive sequences, or returns -1 when the ring has no room for them before a
     * checkpoint moves the tail.
     */
    long reserve(int n) {
        while (true) {
            long s = next.get();
            if (s + n - tail > slots) {
                return -1;
            }
            if (next.compareAndSet(s, s + n)) {
                return s;
            }
        }
    }

    private long slotAt(long seq) {
        return RECORDS_AT + (seq % slots) * RECORD;
    }

    /**
     * Writes records {@code first..first+n-1} for blocks {@code firstBlock..} with the data in {@code records}, which
     * holds {@code n} records of {@value #RECORD} bytes whose headers this fills in.
     */
    void write(long first, long firstBlock, int n, ByteBuffer records) throws IOException {
        CRC32C c = new CRC32C();
        for (int i = 0; i < n; i++) {
            int at = i * RECORD;
            records.putInt(at, RECORD_MAGIC).putInt(at + 4, 0).putLong(at + 8, first + i)
                    .putLong(at + 16, firstBlock + i);
            c.reset();
            c.update(records.duplicate().position(at).limit(at + 24));
            c.update(records.duplicate().position(at + RECORD_HEADER).limit(at + RECORD));
            records.putInt(at + 24, (int) c.getValue());
        }
        // the ring may wrap inside: write each contiguous part
        int done = 0;
        while (done < n) {
            long seq = first + done;
            int run = (int) Math.min(n - done, slots - seq % slots);
            ByteBuffer part = records.duplicate().position(done * RECORD).limit((done + run) * RECORD);
            long at = slotAt(seq);
            while (part.hasRemaining()) {
                channel.write(part, at + part.position() - (long) done * RECORD);
            }
            done += run;
        }
    }

    /** Appends the first {@code length} data bytes of record {@code seq} to {@code dst}. */
    void readData(long seq, ByteBuf dst, int length) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(length);
        long at = slotAt(seq) + RECORD_HEADER;
        while (b.hasRemaining()) {
            if (channel.read(b, at + b.position()) < 0) {
                throw new IOException(path + ": journal ends early");
            }
        }
        dst.writeBytes(b.flip());
    }

    /** Makes every written record durable. */
    void force() throws IOException {
        channel.force(false);
    }

    /** Moves the tail to {@code newTail} (every record below it is checkpointed) and makes that durable. */
    synchronized void setTail(long newTail) throws IOException {
        if (newTail <= tail) {
            return;
        }
        writeHeader(channel, headerSeq + 1, slots, newTail, created);
        channel.force(false);
        headerSeq++;
        tail = newTail;
    }

    /**
     * The valid records from the tail on: per block, the sequence of its newest record (ascending by block). Also
     * sets where new records start: after the newest valid one.
     */
    TreeMap<Long, Long> scan() throws IOException {
        TreeMap<Long, Long> latest = scan(channel, slots, tail);
        long max = tail - 1;
        for (long s : latest.values()) {
            max = Math.max(max, s);
        }
        next.set(max + 1);
        return latest;
    }

    /** {@link #scan()} of the journal at {@code file} without opening it for writing; empty when there is none. */
    static TreeMap<Long, Long> scanFile(Path file, long created, String what) throws IOException {
        if (!Files.exists(file)) {
            return new TreeMap<>();
        }
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long[] h = readHeader(ch, what);
            if (h[3] != created || ch.size() != fileSize((int) h[1])) {
                return new TreeMap<>();
            }
            return scan(ch, (int) h[1], h[2]);
        }
    }

    /** Reads the data of record {@code seq} of the journal {@code ch} of {@code slots} slots into {@code dst}. */
    static void readData(FileChannel ch, int slots, long seq, ByteBuffer dst) throws IOException {
        long at = RECORDS_AT + (seq % slots) * RECORD + RECORD_HEADER;
        while (dst.hasRemaining()) {
            if (ch.read(dst, at + dst.position()) < 0) {
                throw new IOException("journal ends early");
            }
        }
    }

    /** Slots of the journal at {@code file} (for reading a {@link #scanFile} result). */
    static int slots(FileChannel ch, String what) throws IOException {
        return (int) readHeader(ch, what)[1];
    }

    private static TreeMap<Long, Long> scan(FileChannel ch, int slots, long tail) throws IOException {
        TreeMap<Long, Long> latest = new TreeMap<>();
        int perRead = 256;
        ByteBuffer buf = ByteBuffer.allocateDirect(perRead * RECORD);
        CRC32C c = new CRC32C();
        for (int first = 0; first < slots; first += perRead) {
            int n = Math.min(perRead, slots - first);
            buf.clear().limit(n * RECORD);
            long at = RECORDS_AT + (long) first * RECORD;
            while (buf.hasRemaining()) {
                if (ch.read(buf, at + buf.position()) < 0) {
                    throw new IOException("journal ends early");
                }
            }
            for (int i = 0; i < n; i++) {
                int r = i * RECORD;
                if (buf.getInt(r) != RECORD_MAGIC) {
                    continue;
                }
                long seq = buf.getLong(r + 8);
                long block = buf.getLong(r + 16);
                if (seq < tail || seq - tail >= slots || seq % slots != first + i || block < 0) {
                    continue;
                }
                c.reset();
                c.update(buf.duplicate().position(r).limit(r + 24));
                c.update(buf.duplicate().position(r + RECORD_HEADER).limit(r + RECORD));
                if ((int) c.getValue() != buf.getInt(r + 24)) {
                    continue;
                }
                latest.merge(block, seq, Math::max);
            }
        }
        return latest;
    }

    Path path() {
        return path;
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
