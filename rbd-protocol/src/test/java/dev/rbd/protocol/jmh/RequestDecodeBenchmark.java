package dev.rbd.protocol.jmh;

import static dev.rbd.protocol.jmh.Frames.KIB4;
import static dev.rbd.protocol.jmh.Frames.MIB1;

import dev.rbd.protocol.NbdCommand;
import dev.rbd.protocol.NbdConstants;
import dev.rbd.protocol.codec.ServerTransmissionCodec;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.embedded.EmbeddedChannel;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

/**
 * Server hot path, inbound: the {@link ServerTransmissionCodec} the server installs for the transmission phase,
 * decoding requests from pooled direct buffers as the server's socket reads deliver them.
 *
 * <p>Each operation fires one socket read's buffer into the pipeline ({@code fireChannelRead} then
 * {@code fireChannelReadComplete}, as the transport does) and the decoded requests reach a {@link Sink} that
 * consumes and releases them, as the server's handler does. {@code EmbeddedChannel} only provides the pipeline: its
 * {@code writeInbound} and message queue are bypassed, so what is measured is the codec and Netty's
 * {@code ByteToMessageDecoder} around it. A buffer that arrives whole is built once and fed again and again
 * (retained, since the decoder releases what it has read); the pieces of a request split across reads are
 * allocated per operation, as the socket does, because the decoder may grow the first into its cumulation.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {Run.EXECUTOR, Run.EXECUTOR_CLASS, Run.NO_LEAK_DETECTION, Run.HEAP_MIN,
        Run.HEAP_MAX})
@State(Scope.Thread)
public class RequestDecodeBenchmark {
    /** fio's queue depth in the 4k benchmarks of docs/benchmarks.md: 32 READs in flight arrive together. */
    static final int BATCH = 32;
    /** The socket read size the 1 MiB WRITE is split into. */
    static final int READ_SIZE = 64 << 10;
    /** The server's default (BlockSizes.DEFAULT). */
    static final int MAX_PAYLOAD = 32 << 20;

    /** The server's allocator (RbdServer sets it for every connection). */
    final ByteBufAllocator alloc = PooledByteBufAllocator.DEFAULT;
    EmbeddedChannel channel;
    ChannelPipeline pipeline;
    Sink sink;
    /** A second connection, whose requests are held until a whole batch is decoded, as in flight. */
    EmbeddedChannel inFlightChannel;
    ChannelPipeline inFlightPipeline;
    Sink inFlight;
    ByteBuf write4k;
    ByteBuf read4k;
    ByteBuf write1m;
    ByteBuf reads4kBatch;
    ByteBuf[] writes4kBatchReads;

    @Setup
    public void setUp(Blackhole blackhole) {
        setUp(Sink.releasing(blackhole), Sink.keeping(blackhole));
    }

    void setUp(Sink sink, Sink inFlight) {
        this.sink = sink;
        this.inFlight = inFlight;
        channel = new EmbeddedChannel(new ServerTransmissionCodec(MAX_PAYLOAD), sink);
        channel.config().setAllocator(alloc);
        pipeline = channel.pipeline();
        inFlightChannel = new EmbeddedChannel(new ServerTransmissionCodec(MAX_PAYLOAD), inFlight);
        inFlightChannel.config().setAllocator(alloc);
        inFlightPipeline = inFlightChannel.pipeline();
        write4k = Frames.data(Frames.request(alloc.directBuffer(), NbdCommand.WRITE, 1, 0, KIB4), KIB4);
        read4k = Frames.request(alloc.directBuffer(), NbdCommand.READ, 2, 4096, KIB4);
        write1m = Frames.data(Frames.request(alloc.directBuffer(), NbdCommand.WRITE, 3, 0, MIB1), MIB1);
        reads4kBatch = alloc.directBuffer(BATCH * NbdConstants.REQUEST_HEADER_LENGTH);
        for (int i = 0; i < BATCH; i++) {
            Frames.request(reads4kBatch, NbdCommand.READ, 100 + i, (long) i * 7 * KIB4, KIB4);
        }
        ByteBuf stream = alloc.heapBuffer(BATCH * (NbdConstants.REQUEST_HEADER_LENGTH + KIB4));
        for (int i = 0; i < BATCH; i++) {
            Frames.data(Frames.request(stream, NbdCommand.WRITE, 200 + i, (long) i * KIB4, KIB4), KIB4);
        }
        writes4kBatchReads = new ByteBuf[(stream.readableBytes() + READ_SIZE - 1) / READ_SIZE];
        for (int i = 0; i < writes4kBatchReads.length; i++) {
            int n = Math.min(READ_SIZE, stream.readableBytes());
            writes4kBatchReads[i] = alloc.directBuffer(n).writeBytes(stream, n);
        }
        stream.release();
    }

    @TearDown
    public void tearDown() {
        write4k.release();
        read4k.release();
        write1m.release();
        reads4kBatch.release();
        for (ByteBuf b : writes4kBatchReads) {
            b.release();
        }
        inFlight.releaseKept();
        channel.finishAndReleaseAll();
        inFlightChannel.finishAndReleaseAll();
    }

    /** (a) A 4 KiB WRITE, header and payload in one read. */
    @Benchmark
    public void write4k() {
        read(write4k);
    }

    /** (b) A READ request: a header alone. */
    @Benchmark
    public void read4k() {
        read(read4k);
    }

    /** (c) A 1 MiB WRITE, header and payload in one read. */
    @Benchmark
    public void write1m() {
        read(write1m);
    }

    /**
     * (c') A 1 MiB WRITE as it usually arrives: in socket reads of 64 KiB, the first holding the header. The
     * payload bytes are left as the allocator gives them (the decoder does not look at them); what the socket
     * copies into them is the kernel's cost, not the codec's.
     */
    @Benchmark
    public void write1mIn64kReads() {
        int total = NbdConstants.REQUEST_HEADER_LENGTH + MIB1;
        for (int sent = 0; sent < total; sent += READ_SIZE) {
            int n = Math.min(READ_SIZE, total - sent);
            ByteBuf piece = alloc.ioBuffer(READ_SIZE);
            if (sent == 0) {
                Frames.request(piece, NbdCommand.WRITE, 4, 0, MIB1);
            }
            piece.writerIndex(n);
            pipeline.fireChannelRead(piece);
        }
        pipeline.fireChannelReadComplete();
    }

    /** (d) 32 pipelined 4k READs in one read, as fio sends them at queue depth 32. */
    @Benchmark
    public void reads4kBatch32() {
        read(reads4kBatch);
    }

    /**
     * (e) 32 pipelined 4k WRITEs as fio sends them at queue depth 32, in socket reads of 64 KiB, so that a request
     * is cut at the end of each read. The decoded requests are held until all 32 are decoded, as the server holds
     * them while their writes run; that decides how the decoder joins a request's two parts.
     */
    @Benchmark
    public void writes4kBatch32In64kReads() {
        decodeWrites4kBatch();
        inFlight.releaseKept();
    }

    /** {@link #writes4kBatch32In64kReads} without the release, for the tests. */
    void decodeWrites4kBatch() {
        for (ByteBuf wire : writes4kBatchReads) {
            wire.retain().readerIndex(0);
            inFlightPipeline.fireChannelRead(wire);
        }
        inFlightPipeline.fireChannelReadComplete();
    }

    /** The baseline of {@link #write1mIn64kReads}: allocating and releasing its 17 read buffers, without decoding. */
    @Benchmark
    public void baseline1mIn64kReadsAlone(Blackhole blackhole) {
        int total = NbdConstants.REQUEST_HEADER_LENGTH + MIB1;
        for (int sent = 0; sent < total; sent += READ_SIZE) {
            ByteBuf piece = alloc.ioBuffer(READ_SIZE);
            piece.writerIndex(Math.min(READ_SIZE, total - sent));
            blackhole.consume(piece);
            piece.release();
        }
    }

    private void read(ByteBuf wire) {
        // The decoder releases a buffer it has read to the end, as it does a socket read's buffer.
        wire.retain().readerIndex(0);
        pipeline.fireChannelRead(wire).fireChannelReadComplete();
    }
}
