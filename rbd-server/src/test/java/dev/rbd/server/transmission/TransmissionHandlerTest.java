package dev.rbd.server.transmission;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rbd.protocol.NbdCommand;
import dev.rbd.protocol.NbdError;
import dev.rbd.protocol.NbdRequest;
import dev.rbd.protocol.NbdSimpleReply;
import dev.rbd.protocol.NbdStructuredReply;
import dev.rbd.protocol.NbdWritePart;
import dev.rbd.protocol.codec.RequestDecoder;
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
import io.netty.util.ReferenceCountUtil;
import java.util.ArrayList;
import java.util.List;
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
    private final Export disk = TestServers.flushExport("disk", new MemoryBlockStore(8 << 20));
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
    void aRequestOverTheLimitWaitsUnstartedAndReadingPausesUntilBytesAreReleased() {
        ch.writeInbound(write(1, 0, new byte[4096]));
        assertThat(ch.config().isAutoRead()).isTrue();
        ch.writeInbound(write(2, 4096, new byte[4096]));
        assertThat(ch.config().isAutoRead()).as("8 KiB and headers would be over the 8 KiB limit").isFalse();
        assertThat(io.queued()).as("the second write waits, unstarted").isEqualTo(1);
        io.runAll();
        assertThat(io.queued()).as("nothing is released before the first reply is written").isZero();
        ch.runPendingTasks(); // the flush: the first reply leaves, its bytes are released, the second write starts
        assertThat(io.queued()).isEqualTo(1);
        assertThat(ch.config().isAutoRead()).as("4 KiB still in flight, above half the limit").isFalse();
        runIo();
        assertThat(ch.config().isAutoRead()).isTrue();
        assertThat(server.memory().used()).isZero();
        NbdSimpleReply first = reply();
        NbdSimpleReply second = reply();
        assertThat(first.cookie()).isEqualTo(1);
        assertThat(second.cookie()).isEqualTo(2);
        first.release();
        second.release();
    }

    @Test
    void aConnectionWithNothingInFlightMayStartOneRequestWhateverItsLimit() {
        // 1 MiB is far over the 8 KiB limit, but a connection holding nothing always gets one request through
        ch.writeInbound(NbdRequest.of(0, NbdCommand.READ, 1, 0, 1 << 20));
        assertThat(io.queued()).isEqualTo(1);
        runIo();
        NbdSimpleReply r = reply();
        assertThat(r.error()).isZero();
        assertThat(r.content().readableBytes()).isEqualTo(1 << 20);
        r.release();
    }

    @Test
    void aLargeReadIsStreamedOnePartAtATimeAndOtherSimpleRepliesWaitBehindIt() throws Exception {
        int length = 2 * RequestDecoder.FILL_LIMIT + 512;
        byte[] data = new byte[length];
        new java.util.Random(7).nextBytes(data);
        ch.writeInbound(write(1, 0, java.util.Arrays.copyOf(data, 4096)));
        runIo();
        reply().release();
        disk.store().write(0, Unpooled.wrappedBuffer(data)); // straight into the store
        ch.writeInbound(NbdRequest.of(0, NbdCommand.READ, 2, 0, length));
        ch.writeInbound(NbdRequest.of(0, NbdCommand.FLUSH, 3, 0, 0));
        ByteBuf got = Unpooled.buffer(length);
        int parts = 0;
        List<Object> out = new ArrayList<>();
        while (io.queued() > 0) {
            assertThat(io.queued()).as("at most one part is read ahead of the socket").isLessThanOrEqualTo(2);
            runIo();
            Object m;
            while ((m = ch.readOutbound()) != null) {
                out.add(m);
            }
        }
        try {
            assertThat(out.get(0)).isInstanceOf(NbdSimpleReply.class);
            NbdSimpleReply head = (NbdSimpleReply) out.get(0);
            assertThat(head.cookie()).isEqualTo(2);
            got.writeBytes(head.content());
            for (Object m : out.subList(1, out.size() - 1)) {
                assertThat(m).as("bare data after the header: nothing may come between").isInstanceOf(ByteBuf.class);
                got.writeBytes((ByteBuf) m);
                parts++;
            }
            assertThat(parts).isEqualTo(2);
            assertThat(ByteBufUtil.getBytes(got)).isEqualTo(data);
            NbdSimpleReply flush = (NbdSimpleReply) out.get(out.size() - 1);
            assertThat(flush.cookie()).as("the flush's reply waited for the read's last piece").isEqualTo(3);
        } finally {
            got.release();
            out.forEach(ReferenceCountUtil::release);
        }
        assertThat(server.memory().used()).isZero();
        assertThat(conn.bytesRead().get()).isEqualTo(length);
    }

    @Test
    void pipelinedLargeReadsWithSimpleRepliesGoOutOneWholeReplyAfterTheOther() throws Exception {
        ServerContext roomy = TestServers.context(io, 64L << 20, disk);
        EmbeddedChannel c = new EmbeddedChannel(false, false);
        Connection other = new Connection("embedded-2", "127.0.0.1");
        other.bind(c);
        c.pipeline().addLast(new TransmissionHandler(roomy, disk, other, false));
        c.register();
        int length = 2 * RequestDecoder.FILL_LIMIT + 512;
        byte[] data = new byte[8 << 20];
        int second = data.length - length;
        new java.util.Random(11).nextBytes(data);
        disk.store().write(0, Unpooled.wrappedBuffer(data));
        c.writeInbound(NbdRequest.of(0, NbdCommand.READ, 1, 0, length));
        c.writeInbound(NbdRequest.of(0, NbdCommand.READ, 2, second, length));
        c.writeInbound(NbdRequest.of(0, NbdCommand.READ, 3, 0, 4096));
        List<Object> out = new ArrayList<>();
        while (io.queued() > 0) {
            io.runAll();
            c.runPendingTasks();
            Object m;
            while ((m = c.readOutbound()) != null) {
                out.add(m);
            }
        }
        try {
            // Read the messages as the client reads the byte stream: a header, then exactly its data.
            java.util.Map<Long, byte[]> got = new java.util.HashMap<>();
            for (int i = 0; i < out.size(); ) {
                assertThat(out.get(i)).as("message %d starts a reply", i).isInstanceOf(NbdSimpleReply.class);
                NbdSimpleReply head = (NbdSimpleReply) out.get(i++);
                assertThat(head.error()).as("cookie %d's error", head.cookie()).isZero();
                int want = head.cookie() == 3 ? 4096 : length;
                ByteBuf body = Unpooled.buffer(want);
                body.writeBytes(head.content());
                while (body.readableBytes() < want) {
                    assertThat(out.get(i)).as("only the same read's data may follow its header")
                            .isInstanceOf(ByteBuf.class);
                    body.writeBytes((ByteBuf) out.get(i++));
                }
                got.put(head.cookie(), ByteBufUtil.getBytes(body));
                body.release();
            }
            assertThat(got).containsOnlyKeys(1L, 2L, 3L);
            assertThat(got.get(1L)).isEqualTo(java.util.Arrays.copyOfRange(data, 0, length));
            assertThat(got.get(2L)).isEqualTo(java.util.Arrays.copyOfRange(data, second, data.length));
            assertThat(got.get(3L)).isEqualTo(java.util.Arrays.copyOfRange(data, 0, 4096));
        } finally {
            out.forEach(ReferenceCountUtil::release);
            c.finishAndReleaseAll();
        }
        assertThat(roomy.memory().used()).isZero();
    }

    @Test
    void aLargeReadWithStructuredRepliesGoesOutAsOffsetDataChunksTheLastDone() throws Exception {
        EmbeddedChannel sch = new EmbeddedChannel(false, false);
        Connection sconn = new Connection("embedded", "127.0.0.2").bind(sch);
        sch.pipeline().addLast(new TransmissionHandler(server, disk, sconn, true));
        sch.register();
        try {
            int length = RequestDecoder.FILL_LIMIT + 4096;
            sch.writeInbound(NbdRequest.of(0, NbdCommand.READ, 5, 8192, length));
            List<NbdStructuredReply> chunks = new ArrayList<>();
            while (io.queued() > 0) {
                io.runAll();
                sch.runPendingTasks();
                NbdStructuredReply c;
                while ((c = sch.readOutbound()) != null) {
                    chunks.add(c);
                }
            }
            try {
                assertThat(chunks).hasSize(2);
                assertThat(chunks.get(0).offset()).isEqualTo(8192);
                assertThat(chunks.get(0).isDone()).isFalse();
                assertThat(chunks.get(1).offset()).isEqualTo(8192 + RequestDecoder.FILL_LIMIT);
                assertThat(chunks.get(1).isDone()).isTrue();
                assertThat(chunks.get(0).content().readableBytes() + chunks.get(1).content().readableBytes())
                        .isEqualTo(length);
            } finally {
                chunks.forEach(ReferenceCountUtil::release);
            }
        } finally {
            sch.finishAndReleaseAll();
        }
    }

    @Test
    void aStreamedWriteStoresEachPartAsItArrivesAndIsAnsweredAfterTheLast() throws Exception {
        byte[] a = new byte[RequestDecoder.FILL_LIMIT];
        java.util.Arrays.fill(a, (byte) 0x5a);
        ch.writeInbound(NbdRequest.streamedWrite(0, NbdCommand.WRITE.code(), 9, 4096, a.length + 3L));
        ch.writeInbound(new NbdWritePart(0, Unpooled.wrappedBuffer(a), false));
        assertThat(server.memory().used()).as("the part is counted until stored").isGreaterThan(a.length);
        runIo();
        assertThat((Object) ch.readOutbound()).as("no reply before the last part").isNull();
        assertThat(server.memory().used()).as("only the header's weight is left").isEqualTo(64);
        ch.writeInbound(new NbdWritePart(a.length, Unpooled.wrappedBuffer(new byte[] {1, 2, 3}), true));
        runIo();
        NbdSimpleReply r = reply();
        assertThat(r.cookie()).isEqualTo(9);
        assertThat(r.error()).isZero();
        r.release();
        ByteBuf back = Unpooled.buffer(a.length + 3);
        try {
            disk.store().read(4096, back, a.length + 3);
            assertThat(back.getByte(0)).isEqualTo((byte) 0x5a);
            assertThat(back.getByte(a.length - 1)).isEqualTo((byte) 0x5a);
            assertThat(back.getByte(a.length + 2)).isEqualTo((byte) 3);
        } finally {
            back.release();
        }
        assertThat(conn.bytesWritten().get()).isEqualTo(a.length + 3L);
        assertThat(server.memory().used()).isZero();
    }

    @Test
    void aStreamedWriteBeyondTheEndIsRefusedAndItsPartsAreDropped() {
        ch.writeInbound(NbdRequest.streamedWrite(0, NbdCommand.WRITE.code(), 4, (8 << 20) - 4096,
                RequestDecoder.FILL_LIMIT + 1L));
        NbdSimpleReply r = reply();
        assertThat(r.error()).isEqualTo(NbdError.ENOSPC.code());
        r.release();
        ch.writeInbound(new NbdWritePart(0, Unpooled.wrappedBuffer(new byte[RequestDecoder.FILL_LIMIT]), false));
        ch.writeInbound(new NbdWritePart(RequestDecoder.FILL_LIMIT, Unpooled.wrappedBuffer(new byte[1]), true));
        assertThat(io.queued()).as("nothing of it reaches the store").isZero();
        assertThat(server.memory().used()).isZero();
    }

    @Test
    void aConnectionClosedDuringAStreamedWriteAnswersNothingAndReleasesTheWriterLock() {
        assertThat(disk.writerLock().claim(conn.client(), conn.label())).isNull();
        ch.writeInbound(NbdRequest.streamedWrite(0, NbdCommand.WRITE.code(), 4, 0, RequestDecoder.FILL_LIMIT + 1L));
        ch.writeInbound(new NbdWritePart(0, Unpooled.wrappedBuffer(new byte[RequestDecoder.FILL_LIMIT]), false));
        ch.close();
        runIo();
        assertThat(conn.inFlight()).isZero();
        assertThat(disk.writerLock().owner()).isNull();
        assertThat(server.memory().used()).isZero();
    }

    @Test
    void anOutOfMemoryErrorInTheStoreIsAnsweredWithEnomem() throws Exception {
        Export failing = TestServers.flushExport("failing", new MemoryBlockStore(1 << 20) {
            @Override
            public void read(long offset, ByteBuf dst, int length) {
                throw new OutOfMemoryError("Cannot reserve 33554432 bytes of direct buffer memory");
            }
        });
        EmbeddedChannel fch = new EmbeddedChannel(false, false);
        Connection fconn = new Connection("embedded", "127.0.0.3").bind(fch);
        fch.pipeline().addLast(new TransmissionHandler(server, failing, fconn, false));
        fch.register();
        try {
            fch.writeInbound(NbdRequest.of(0, NbdCommand.READ, 1, 0, 4096));
            io.runAll();
            fch.runPendingTasks();
            NbdSimpleReply r = fch.readOutbound();
            assertThat(r.error()).isEqualTo(NbdError.ENOMEM.code());
            r.release();
            assertThat(fconn.inFlight()).isZero();
        } finally {
            fch.finishAndReleaseAll();
            failing.close();
        }
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
