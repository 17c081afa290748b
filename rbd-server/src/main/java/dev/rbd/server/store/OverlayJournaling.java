package dev.rbd.server.store;

import static dev.rbd.server.store.OverlayMap.BLOCK;

import dev.rbd.server.store.OverlayMap.State;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Map;
import java.util.NavigableMap;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A persistent overlay's {@link OverlayJournal} in use: which blocks have their newest content in the journal
 * (pending), writing records, reading pending blocks, and checkpoints. The journal is made by the overlay's first
 * write that wants it; writes that cannot use it take the direct way (overlay file and map).
 *
 * <p>A checkpoint copies the pending blocks to the overlay file, sets them DATA in the map, syncs the file, then the
 * map, then moves the journal's tail, and only then stops reading them from the journal. It runs in the background
 * when the journal is half full, in the writer when it is full, before a trim or zero or a large write touches a
 * pending block (those change the map directly), and at close. Writers hold the read side of a lock while they write
 * records and enter them as pending; a checkpoint takes the write side only to take its snapshot, so every record it
 * does not see has a sequence past its new tail.
 */
final class OverlayJournaling implements Closeable {
    private static final Logger log = LoggerFactory.getLogger(OverlayJournaling.class);
    /** Writes of at most this many blocks go to the journal (256 KiB); larger ones go to the overlay file. */
    static final int MAX_BLOCKS = 64;

    /** Runs background checkpoints; at most two at a time over every overlay. */
    private static final ExecutorService BACKGROUND = background();

    private static ExecutorService background() {
        AtomicInteger n = new AtomicInteger();
        ThreadPoolExecutor e = new ThreadPoolExecutor(2, 2, 30, TimeUnit.SECONDS, new LinkedBlockingQueue<>(),
                r -> {
                    Thread t = new Thread(r, "rbd-overlay-journal-" + n.incrementAndGet());
                    t.setDaemon(true);
                    return t;
                });
        e.allowCoreThreadTimeOut(true);
        return e;
    }

    private final Path file;
    private final long created;
    private final int slots;
    private final BlockStore home;
    private final OverlayMap map;
    private final long size;
    private final String what;
    private volatile OverlayJournal journal;
    /** Block to the sequence of its newest record, for blocks whose content is in the journal. */
    private final ConcurrentSkipListMap<Long, Long> pending = new ConcurrentSkipListMap<>();
    private final ReentrantReadWriteLock appending = new ReentrantReadWriteLock();
    private final ReentrantLock checkpointing = new ReentrantLock();
    private final ReentrantLock making = new ReentrantLock();
    /** When making the journal last failed ({@link System#nanoTime()}), or long ago. */
    private volatile long madeAt = System.nanoTime() - RETRY_MS * 2_000_000L;
    private final AtomicBoolean scheduled = new AtomicBoolean();
    /** Records written, and how many of them a force covered. */
    private final AtomicLong written = new AtomicLong();
    private final AtomicLong forced = new AtomicLong();
    /** When a background checkpoint last failed ({@link System#nanoTime()}): the next waits a second. */
    private volatile long checkpointFailedAt = System.nanoTime() - 2_000_000_000L;
    private volatile boolean closed;

    /**
     * @param journal the journal opened and replayed already, or {@code null}: one is made at {@code file} when
     *                first wanted, with {@code slots} slots
     */
    OverlayJournaling(Path file, long created, int slots, OverlayJournal journal, BlockStore home, OverlayMap map,
                      String what) {
        this.file = file;
        this.created = created;
        this.slots = slots;
        this.journal = journal;
        this.home = home;
        this.map = map;
        this.size = home.size();
        this.what = what;
    }

    /**
     * Replays {@code journal}: every block's newest valid record into {@code home}, the map set DATA, both synced,
     * then the tail moved past them. Returns the blocks replayed.
     *
     * @throws CorruptOverlayException a valid record names a block past the image's end
     */
    static int replay(OverlayJournal journal, BlockStore home, OverlayMap map, String what) throws IOException {
        TreeMap<Long, Long> latest = journal.scan();
        if (latest.isEmpty()) {
            return 0;
        }
        long size = home.size();
        ByteBuf buf = PooledByteBufAllocator.DEFAULT.directBuffer(BLOCK);
        try {
            for (Map.Entry<Long, Long> e : latest.entrySet()) {
                long b = e.getKey();
                if (b >= map.blocks()) {
                    throw new CorruptOverlayException(what + ": its journal names block " + b + ", past the image's "
                            + map.blocks() + " blocks");
                }
                buf.clear();
                journal.readData(e.getValue(), buf, blockLength(b, size));
                home.write(b * BLOCK, buf);
                map.set(b, 1, State.DATA);
            }
        } finally {
            buf.release();
        }
        map.sync(home::sync);
        journal.setTail(journal.next());
        log.info("{}: {} blocks replayed from its journal (written before the server stopped without a checkpoint)",
                what, latest.size());
        return latest.size();
    }

    private static int blockLength(long b, long size) {
        return (int) Math.min(BLOCK, size - b * BLOCK);
    }

    /**
     * Whether writes can go to the journal now. The first call makes the journal (tens of milliseconds, once in the
     * overlay's life); writes that come while another makes it take the direct way. After a failure to make it, the
     * next try waits {@value #RETRY_MS} ms.
     */
    boolean ready() throws IOException {
        if (journal != null) {
            return true;
        }
        if (closed || System.nanoTime() - madeAt < RETRY_MS * 1_000_000L || !making.tryLock()) {
            return false;
        }
        try {
            if (journal == null && !closed) {
                make();
            }
            return journal != null;
        } finally {
            making.unlock();
        }
    }

    private static final long RETRY_MS = 60_000;

    private void make() {
        try {
            OverlayJournal.create(file, slots, created);
            OverlayJournal j = OverlayJournal.open(file, created, what);
            if (j == null) {
                throw new IOException(file + ": the new journal could not be opened");
            }
            j.scan();   // a new journal: no records; sets where records start
            journal = j;
        } catch (IOException | RuntimeException e) {
            // writes keep taking the direct way until the next try
            madeAt = System.nanoTime();
            log.warn("{}: cannot make its journal {} ({}); writes go to the overlay file", what, file, e.toString());
        }
    }

    /** Blocks a write may have to go to the journal: at most {@link #MAX_BLOCKS}, and a quarter of its slots. */
    int maxBlocks() {
        OverlayJournal j = journal;
        return Math.max(1, Math.min(MAX_BLOCKS, (j != null ? j.slots() : slots) / 4));
    }

    /** Whether a block of {@code [first, last]} has its content in the journal. */
    boolean anyPending(long first, long last) {
        return !pending.isEmpty() && !pending.subMap(first, true, last, true).isEmpty();
    }

    /** The pending blocks of {@code [first, last]}: block to record sequence. */
    NavigableMap<Long, Long> pending(long first, long last) {
        return pending.subMap(first, true, last, true);
    }

    /**
     * Appends the {@code length} bytes of block {@code b} to {@code dst} from the journal and returns {@code true},
     * or returns {@code false} (nothing appended) when the block is not pending: then it reads as the map says.
     */
    boolean read(long b, ByteBuf dst, int skip, int length) throws IOException {
        while (true) {
            Long seq = pending.get(b);
            if (seq == null) {
                return false;
            }
            OverlayJournal j = journal;
            int start = dst.writerIndex();
            ByteBuf block = PooledByteBufAllocator.DEFAULT.directBuffer(skip + length);
            try {
                j.readData(seq, block, skip + length);
                // the slot is this record's as long as the tail has not passed it
                if (j.tail() <= seq) {
                    dst.writeBytes(block, skip, length);
                    return true;
                }
            } finally {
                block.release();
            }
            dst.writerIndex(start);
        }
    }

    /**
     * Writes {@code n} records for blocks {@code firstBlock..} from {@code records} (see
     * {@link OverlayJournal#write}) and makes them pending. The caller holds the blocks' locks. Waits for a
     * checkpoint when the journal is full.
     */
    void write(long firstBlock, int n, ByteBuffer records) throws IOException {
        OverlayJournal j = journal;
        while (true) {
            appending.readLock().lock();
            try {
                long seq = j.reserve(n);
                if (seq >= 0) {
                    j.write(seq, firstBlock, n, records);
                    for (int i = 0; i < n; i++) {
                        pending.put(firstBlock + i, seq + i);
                    }
                    written.incrementAndGet();
                    if (j.used() * 2 > j.slots()) {
                        schedule();
                    }
                    return;
                }
            } finally {
                appending.readLock().unlock();
            }
            checkpoint();
        }
    }

    private void schedule() {
        if (System.nanoTime() - checkpointFailedAt > 1_000_000_000L && scheduled.compareAndSet(false, true)) {
            BACKGROUND.execute(() -> {
                scheduled.set(false);
                try {
                    if (!closed) {
                        checkpoint();
                    }
                } catch (IOException | RuntimeException e) {
                    checkpointFailedAt = System.nanoTime();
                    log.warn("{}: checkpoint of its journal failed (it is tried again; until then the journal"
                            + " keeps its blocks): {}", what, e.toString());
                }
            });
        }
    }

    /** Makes every record written so far durable (the first step of the overlay's sync), if any was written. */
    void force() throws IOException {
        long w = written.get();
        if (w != forced.get() && journal != null) {
            journal.force();
            forced.accumulateAndGet(w, Math::max);
        }
    }

    /**
     * Checkpoints until no block of {@code [first, last]} is pending. The caller holds those blocks' locks, so no
     * record for them comes in meanwhile.
     */
    void settle(long first, long last) throws IOException {
        while (anyPending(first, last)) {
            checkpoint();
        }
    }

    /** Copies every pending block to the overlay file and moves the journal's tail past them (see the class). */
    void checkpoint() throws IOException {
        checkpointing.lock();
        try {
            OverlayJournal j = journal;
            if (j == null) {
                return;
            }
            TreeMap<Long, Long> snapshot;
            long newTail;
            appending.writeLock().lock();
            try {
                newTail = j.next();
                snapshot = new TreeMap<>(pending);
            } finally {
                appending.writeLock().unlock();
            }
            if (snapshot.isEmpty()) {
                return;
            }
            // A failure (a full disk for the overlay file, an I/O error) leaves the tail where it was: the blocks stay
            // pending and read from the journal, a map page that already says DATA for one is made right by the
            // replay after a crash, and the next checkpoint tries again. Only the write waiting for room fails.
            ByteBuf buf = PooledByteBufAllocator.DEFAULT.directBuffer(BLOCK);
            try {
                for (Map.Entry<Long, Long> e : snapshot.entrySet()) {
                    long b = e.getKey();
                    buf.clear();
                    j.readData(e.getValue(), buf, blockLength(b, size));
                    home.write(b * BLOCK, buf);
                    map.set(b, 1, State.DATA);
                }
            } finally {
                buf.release();
            }
            map.sync(home::sync);
            j.setTail(newTail);
            for (Map.Entry<Long, Long> e : snapshot.entrySet()) {
                pending.remove(e.getKey(), e.getValue());
            }
        } finally {
            checkpointing.unlock();
        }
    }

    /** Checkpoints what is pending and closes the journal. */
    @Override
    public void close() throws IOException {
        making.lock();
        try {
            closed = true;
        } finally {
            making.unlock();
        }
        OverlayJournal j = journal;
        if (j == null) {
            return;
        }
        try {
            checkpoint();   // if it fails, the next open replays
        } finally {
            checkpointing.lock();
            try {
                j.close();
            } finally {
                checkpointing.unlock();
            }
        }
    }
}
