package dev.rbd.protocol.jmh;

import static dev.rbd.protocol.jmh.Frames.KIB4;
import static dev.rbd.protocol.jmh.Frames.MIB1;

import dev.rbd.protocol.NbdError;
import dev.rbd.protocol.NbdSimpleReply;
import dev.rbd.protocol.NbdStructuredReply;
import dev.rbd.protocol.codec.ServerTransmissionCodec;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.ChannelPromise;
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
 * Server hot path, outbound: the {@link ServerTransmissionCodec} encoding the replies the server's handler writes.
 *
 * <p>Each operation makes the reply the server would make (so the reply object is counted) and writes it into the
 * pipeline with the void promise, as the server's handler does. A {@link Sink} between the codec and the head of
 * the pipeline takes the encoded buffers, consumes and releases them where the socket would write them; so
 * {@code EmbeddedChannel}'s outbound buffer and queue are not measured. READ data is one pooled direct buffer
 * made once and retained for each reply, standing in for the buffer the server reads from its store.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {Run.EXECUTOR, Run.EXECUTOR_CLASS, Run.NO_LEAK_DETECTION, Run.HEAP_MIN,
        Run.HEAP_MAX})
@State(Scope.Thread)
public class ReplyEncodeBenchmark {
    /** A message the server sends with an EINVAL (Dispatcher's, for a range past the end of the export). */
    static final String ERROR_MESSAGE = "range 1073741824+4096 is beyond the end of the export (1073741824 bytes)";

    /** The server's allocator (RbdServer sets it for every connection). */
    final ByteBufAllocator alloc = PooledByteBufAllocator.DEFAULT;
    EmbeddedChannel channel;
    ChannelPipeline pipeline;
    ChannelPromise voidPromise;
    Sink sink;
    ByteBuf data4k;
    ByteBuf data1m;
    long cookie;

    @Setup
    public void setUp(Blackhole blackhole) {
        setUp(Sink.releasing(blackhole));
    }

    void setUp(Sink sink) {
        this.sink = sink;
        channel = new EmbeddedChannel(sink, new ServerTransmissionCodec(RequestDecodeBenchmark.MAX_PAYLOAD));
        channel.config().setAllocator(alloc);
        pipeline = channel.pipeline();
        voidPromise = channel.voidPromise();
        data4k = Frames.data(alloc.directBuffer(KIB4, KIB4), KIB4);
        data1m = Frames.data(alloc.directBuffer(MIB1, MIB1), MIB1);
    }

    @TearDown
    public void tearDown() {
        data4k.release();
        data1m.release();
        channel.finishAndReleaseAll();
    }

    /** The reply to a WRITE (or FLUSH, TRIM, ...): a simple reply without data. */
    @Benchmark
    public void simpleOk() {
        pipeline.write(NbdSimpleReply.ok(++cookie), voidPromise);
    }

    @Benchmark
    public void simpleRead4k() {
        pipeline.write(new NbdSimpleReply(++cookie, 0, data4k.retain()), voidPromise);
    }

    @Benchmark
    public void simpleRead1m() {
        pipeline.write(new NbdSimpleReply(++cookie, 0, data1m.retain()), voidPromise);
    }

    /** The reply to a 4k READ with structured replies: one OFFSET_DATA chunk with DONE. */
    @Benchmark
    public void structuredRead4k() {
        pipeline.write(NbdStructuredReply.offsetData(++cookie, 4096, data4k.retain(), true), voidPromise);
    }

    @Benchmark
    public void structuredRead1m() {
        pipeline.write(NbdStructuredReply.offsetData(++cookie, 1 << 20, data1m.retain(), true), voidPromise);
    }

    @Benchmark
    public void simpleError() {
        pipeline.write(NbdSimpleReply.error(++cookie, NbdError.EINVAL), voidPromise);
    }

    /** An ERROR chunk with the message the server sends along (structured replies only). */
    @Benchmark
    public void structuredError() {
        pipeline.write(NbdStructuredReply.error(++cookie, NbdError.EINVAL, ERROR_MESSAGE), voidPromise);
    }
}
