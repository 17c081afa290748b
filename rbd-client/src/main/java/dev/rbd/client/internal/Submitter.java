package dev.rbd.client.internal;

import dev.rbd.client.ClientOptions;
import dev.rbd.client.ExportInfo;
import dev.rbd.client.RbdException;
import dev.rbd.protocol.MetaContext;
import dev.rbd.protocol.NbdCommand;
import dev.rbd.protocol.NbdConstants;
import io.netty.buffer.Unpooled;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * Turns API calls into requests: splits them to the server's limits, sets the flags sync mode asks for, and admits
 * each past the budget and the overlap index before the session takes it.
 */
public final class Submitter {
    private final ClientOptions options;
    private final ExportInfo info;
    private final Session session;
    private final Budget budget;
    private final OverlapIndex overlaps = new OverlapIndex();

    public Submitter(ClientOptions options, ExportInfo info, Session session, Budget budget) {
        this.options = options;
        this.info = info;
        this.session = session;
        this.budget = budget;
    }

    /** Requests are split at multiples of the preferred block size (at least the minimum), within the payload limit. */
    private int chunk() {
        int max = Math.min(options.maxRequestSize(), info.maxPayload());
        int align = Math.max(info.minimumBlock(), info.preferredBlock() <= max ? info.preferredBlock() : 1);
        return Math.max(info.minimumBlock(), max - max % align);
    }

    public CompletableFuture<byte[]> read(long offset, int length) {
        byte[] out = new byte[length];
        return read(offset, ByteBuffer.wrap(out)).thenApply(v -> out);
    }

    /** Reads {@code dst.remaining()} bytes into {@code dst} from its position; its position and limit stay. */
    public CompletableFuture<ByteBuffer> read(long offset, ByteBuffer dst) {
        int base = dst.position();
        return split(dst.remaining(), chunk(), (at, n) -> send(Request.read(offset + at, (int) n, dst,
                base + (int) at))).thenApply(v -> dst);
    }

    public CompletableFuture<Void> write(long offset, byte[] data, boolean fua) {
        int flags = durableFlags(fua);
        boolean copy = !info.durableAcks() && (flags & NbdConstants.CMD_FLAG_FUA) == 0;
        return synced(split(data.length, chunk(), (at, n) -> send(Request.write(flags, offset + at,
                copy ? Unpooled.copiedBuffer(data, (int) at, (int) n) : Unpooled.wrappedBuffer(data, (int) at,
                        (int) n)))), flags);
    }

    /**
     * Writes {@code data.remaining()} bytes from {@code data}'s position, wrapped (not copied) where the server's
     * acks are durable or the write is FUA, else copied, since the copy is kept until a FLUSH covers it.
     */
    public CompletableFuture<Void> write(long offset, ByteBuffer data, boolean fua) {
        int flags = durableFlags(fua);
        boolean copy = !info.durableAcks() && (flags & NbdConstants.CMD_FLAG_FUA) == 0;
        int base = data.position();
        return synced(split(data.remaining(), chunk(), (at, n) -> {
            ByteBuffer part = data.duplicate();
            part.limit(base + (int) (at + n)).position(base + (int) at);
            return send(Request.write(flags, offset + at, copy ? Unpooled.copiedBuffer(part)
                    : Unpooled.wrappedBuffer(part)));
        }), flags);
    }

    public CompletableFuture<Void> trim(long offset, long length) {
        int flags = durableFlags(false);
        return synced(ranged(NbdCommand.TRIM, flags, offset, length), flags);
    }

    public CompletableFuture<Void> writeZeroes(long offset, long length, boolean mayPunch) {
        int flags = durableFlags(false);
        return synced(ranged(NbdCommand.WRITE_ZEROES, flags | (mayPunch ? 0 : NbdConstants.CMD_FLAG_NO_HOLE), offset,
                length), flags);
    }

    public CompletableFuture<Void> cache(long offset, long length) {
        return ranged(NbdCommand.CACHE, 0, offset, length);
    }

    /** One BLOCK_STATUS of base:allocation: extents from {@code offset}, covering at least its start. */
    public CompletableFuture<List<MetaContext.Extent>> blockStatus(long offset, int length) {
        Request r = Request.blockStatus(offset, length);
        return send(r).thenApply(v -> r.extents);
    }

    /** A FLUSH, sent once the replies of every write submitted before it are in (see {@code RbdClient.flush}). */
    public CompletableFuture<Void> flush() {
        return overlaps.writesSoFar().handle((v, e) -> null).thenCompose(v -> session.submit(Request.flush(false)));
    }

    /** Completes once every request submitted so far is over. */
    public CompletableFuture<Void> allSoFar() {
        return overlaps.allSoFar();
    }

    /** FUA when asked, or in sync mode where acks are not durable and the server takes FUA. */
    private int durableFlags(boolean fua) {
        boolean sync = options.syncWrites() && !info.durableAcks() && info.canFua();
        return fua || sync ? NbdConstants.CMD_FLAG_FUA : 0;
    }

    /** In sync mode, on a server that neither acks durably nor takes FUA: a FLUSH after the write. */
    private CompletableFuture<Void> synced(CompletableFuture<Void> done, int flags) {
        if (!options.syncWrites() || info.durableAcks() || (flags & NbdConstants.CMD_FLAG_FUA) != 0) {
            return done;
        }
        return done.thenCompose(v -> flush());
    }

    /**
     * Sends one request once no earlier request it overlaps is in flight (reads run beside reads), so overlapping
     * requests take effect in submission order. Blocks the caller, up to the block timeout, for room in the budget.
     */
    private CompletableFuture<Void> send(Request r) {
        int weight = budget.weight(r.payload.readableBytes());
        try {
            budget.acquire(weight);
        } catch (RbdException e) {
            r.payload.release();
            throw e;
        }
        OverlapIndex.Admission a = overlaps.admit(r.offset, r.span(),
                r.command != NbdCommand.READ && r.command != NbdCommand.CACHE && r.command != NbdCommand.BLOCK_STATUS);
        // The overlap entry and the request slot go at the answer, the bytes when the session lets go of the
        // payload (at the answer, or at a FLUSH covering it): on the network thread, so a caller blocked in a
        // callback cannot hold up what would unblock it.
        r.holding(() -> {
            a.entry().release();
            budget.releaseRequest();
        }, () -> budget.releaseBytes(weight));
        // runs at once when nothing overlapping is in flight
        return a.ready().thenCompose(v -> session.submit(r));
    }

    /** Payload-less commands may cover up to 4 GiB - 1 per request; longer ranges are split on block bounds. */
    private CompletableFuture<Void> ranged(NbdCommand cmd, int flags, long offset, long length) {
        long max = 0xFFFF_FFFFL - 0xFFFF_FFFFL % Math.max(info.preferredBlock(), info.minimumBlock());
        return split(length, max, (at, n) -> send(Request.ranged(cmd, flags, offset + at, n)));
    }

    /** One request of its own. */
    @FunctionalInterface
    private interface Part {
        CompletableFuture<Void> send(long at, long length);
    }

    /**
     * Splits {@code length} bytes into requests of at most {@code chunk} (a zero length still makes one request)
     * and completes when all of them have.
     */
    private static CompletableFuture<Void> split(long length, long chunk, Part part) {
        List<CompletableFuture<Void>> parts = new ArrayList<>();
        long done = 0;
        do {
            long n = Math.min(chunk, length - done);
            parts.add(part.send(done, n));
            done += n;
        } while (done < length);
        return CompletableFuture.allOf(parts.toArray(new CompletableFuture<?>[0]));
    }
}
