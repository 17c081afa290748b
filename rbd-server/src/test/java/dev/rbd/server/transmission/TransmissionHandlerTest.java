package dev.rbd.server.transmission;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rbd.protocol.NbdCommand;
import dev.rbd.protocol.NbdError;
import dev.rbd.protocol.NbdRequest;
import dev.rbd.protocol.NbdSimpleReply;
import dev.rbd.server.TestServers;
import dev.rbd.server.TestServers.QueuedExecutor;
import dev.rbd.server.export.Connection;
import dev.rbd.server.export.Export;
import dev.rbd.server.export.ServerContext;
import dev.rbd.server.store.MemoryBlockStore;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The transmission handler alone, on an {@code EmbeddedChannel} over an in-memory store: requests in, replies
 * out, with disk I/O run only when the test says so, so requests can be held in flight.
 */
class TransmissionHandlerTest {
    private static final long MAX_IN_FLIGHT = 8192;

    private final QueuedExecutor io = new QueuedExecutor();
    private final Export disk = TestServers.flushExport("disk", new MemoryBlockStore(1 << 20));
    private final ServerContext server = TestServers.context(io, MAX_IN_FLIGHT, disk);
    private final Connection conn = new Connection("embedded", "127.0.0.1");
    private final EmbeddedChannel ch = open();

    private EmbeddedChannel open() {
        EmbeddedChannel c = new EmbeddedChannel(false, false);
        conn.bind(c);
        c.pipeline().addLast(new TransmissionHandler(server, disk, conn, false));
        try {
            c.register();
        } catch (Exception e) {
            throw new AssertionError(e);
        }
        server.channels().add(c);
        return c;
    }

    @AfterEach
    void close() {
        ch.finishAndReleaseAll();
        disk.close();
    }

    private static NbdRequest write(long cookie, long offset, byte[] data) {
        return new NbdRequest(0, NbdCommand.WRITE.code(), cookie, offset, data.length, Unpooled.wrappedBuffer(data));
    }

    /** Runs the queued disk I/O and the event loop tasks it left (the replies' flush). */
    private void runIo() {
        io.runAll();
        ch.runPendingTasks();
    }

    private NbdSimpleReply reply() {
        return ch.readOutbound();
    }

    @Test
    void writesThenReadsBackOverTheStore() {
        ch.writeInbound(write(1, 512, new byte[] {1, 2, 3, 4}));
        runIo();
        NbdSimpleReply w = reply();
        assertThat(w.cookie()).isEqualTo(1);
        assertThat(w.error()).isZero();
        w.release();
        ch.writeInbound(NbdRequest.of(0, NbdCommand.READ, 2, 512, 4));
        runIo();
        NbdSimpleReply r = reply();
        try {
            assertThat(r.cookie()).isEqualTo(2);
            assertThat(ByteBufUtil.getBytes(r.content())).containsExactly(1, 2, 3, 4);
        } finally {
            r.release();
        }
        assertThat(conn.bytesWritten().get()).isEqualTo(4);
        assertThat(conn.bytesRead().get()).isEqualTo(4);
    }

    @Test
    void discWaitsForTheRequestsInFlightThenClosesAndReleasesTheWriterLock() {
        assertThat(disk.writerLock().claim(conn.client(), conn.label())).isNull();
        ch.writeInbound(write(1, 0, new byte[16]));
        ch.writeInbound(NbdRequest.of(0, NbdCommand.DISC, 2, 0, 0));
        assertThat(ch.isOpen()).as("the write is still in flight").isTrue();
        Object none = ch.readOutbound();
        assertThat(none).as("no reply before the write finishes").isNull();
        runIo();
        NbdSimpleReply w = reply();
        assertThat(w.cookie()).isEqualTo(1);
        w.release();
        assertThat(ch.isOpen()).isFalse();
        assertThat(disk.writerLock().owner()).as("a clean goodbye releases the lock at once").isNull();
    }

    @Test
    void readingPausesWhileTooMuchIsInFlightAndResumesAtHalf() {
        ch.writeInbound(write(1, 0, new byte[4096]));
        assertThat(ch.config().isAutoRead()).isTrue();
        ch.writeInbound(write(2, 4096, new byte[4096]));
        assertThat(ch.config().isAutoRead()).as("8 KiB and headers are in flight").isFalse();
        runIo();
        assertThat(ch.config().isAutoRead()).isTrue();
        reply().release();
        reply().release();
    }

    @Test
    void drainingAnswersNewRequestsWithEshutdownAndCompletesOnceInFlightFinish() {
        ch.writeInbound(write(1, 0, new byte[16]));
        CompletableFuture<Void> drained = server.startDraining();
        ch.runPendingTasks();
        ch.writeInbound(NbdRequest.of(0, NbdCommand.READ, 2, 0, 16));
        NbdSimpleReply refused = reply();
        assertThat(refused.cookie()).isEqualTo(2);
        assertThat(refused.error()).isEqualTo(NbdError.ESHUTDOWN.code());
        refused.release();
        assertThat(drained).isNotDone();
        runIo();
        NbdSimpleReply w = reply();
        assertThat(w.error()).isZero();
        w.release();
        assertThat(drained).isDone();
    }
}
