package dev.rbd.protocol.jmh;

import static dev.rbd.protocol.jmh.Frames.KIB4;

import dev.rbd.protocol.NbdCommand;
import dev.rbd.protocol.NbdRequest;
import dev.rbd.protocol.codec.ClientTransmissionCodec;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
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
 * Client hot path: the {@link ClientTransmissionCodec} decoding 4k READ replies and encoding requests, in two
 * pipelines set up as in {@code RequestDecodeBenchmark} (inbound) and {@code ReplyEncodeBenchmark} (outbound):
 * the codec's messages and buffers go to a {@link Sink}, not to {@code EmbeddedChannel}'s queues. The client does
 * not set an allocator, so these use Netty's default one.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {Run.EXECUTOR, Run.EXECUTOR_CLASS, Run.NO_LEAK_DETECTION, Run.HEAP_MIN,
        Run.HEAP_MAX})
@State(Scope.Thread)
public class ClientCodecBenchmark {
    final ByteBufAllocator alloc = ByteBufAllocator.DEFAULT;
    EmbeddedChannel inbound;
    EmbeddedChannel outbound;
    ChannelPipeline in;
    ChannelPipeline out;
    ChannelPromise voidPromise;
    Sink sink;
    ByteBuf simpleRead4kReply;
    ByteBuf structuredRead4kReply;
    ByteBuf payload4k;
    long cookie;

    @Setup
    public void setUp(Blackhole blackhole) {
        setUp(Sink.releasing(blackhole));
    }

    void setUp(Sink sink) {
        this.sink = sink;
        // Every cookie is a pending 4k READ, as the client's pending map would say.
        inbound = new EmbeddedChannel(new ClientTransmissionCodec(cookie -> KIB4, 32 << 20), sink);
        outbound = new EmbeddedChannel(sink, new ClientTransmissionCodec(cookie -> KIB4, 32 << 20));
        in = inbound.pipeline();
        out = outbound.pipeline();
        voidPromise = outbound.voidPromise();
        simpleRead4kReply = Frames.data(Frames.simpleReply(alloc.directBuffer(), 1), KIB4);
        structuredRead4kReply = Frames.data(Frames.offsetDataChunk(alloc.directBuffer(), 2, 4096, KIB4), KIB4);
        payload4k = Frames.data(alloc.directBuffer(KIB4, KIB4), KIB4);
    }

    @TearDown
    public void tearDown() {
        simpleRead4kReply.release();
        structuredRead4kReply.release();
        payload4k.release();
        inbound.finishAndReleaseAll();
        outbound.finishAndReleaseAll();
    }

    /** The reply a server without structured replies sends to a 4k READ. */
    @Benchmark
    public void decodeSimpleRead4k() {
        read(simpleRead4kReply);
    }

    /** The reply rbd-server sends to a 4k READ (the client asks for structured replies): one OFFSET_DATA chunk. */
    @Benchmark
    public void decodeStructuredRead4k() {
        read(structuredRead4kReply);
    }

    @Benchmark
    public void encodeWrite4k() {
        out.write(new NbdRequest(0, NbdCommand.WRITE.code(), ++cookie, 0, KIB4, payload4k.retain()), voidPromise);
    }

    @Benchmark
    public void encodeRead4k() {
        out.write(NbdRequest.of(0, NbdCommand.READ, ++cookie, 0, KIB4), voidPromise);
    }

    private void read(ByteBuf wire) {
        wire.retain().readerIndex(0);
        in.fireChannelRead(wire).fireChannelReadComplete();
    }
}
