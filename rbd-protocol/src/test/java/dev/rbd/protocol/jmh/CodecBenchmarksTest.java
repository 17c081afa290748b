package dev.rbd.protocol.jmh;

import static dev.rbd.protocol.jmh.Frames.KIB4;
import static dev.rbd.protocol.jmh.Frames.MIB1;
import static org.assertj.core.api.Assertions.assertThat;

import dev.rbd.protocol.EmbeddedChannels;
import dev.rbd.protocol.NbdCommand;
import dev.rbd.protocol.NbdRequest;
import dev.rbd.protocol.NbdSimpleReply;
import dev.rbd.protocol.NbdStructuredReply;
import dev.rbd.protocol.NettyLeakCheck;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.FastThreadLocalThread;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.openjdk.jmh.infra.Blackhole;

/**
 * The benchmarks measure what they say: each operation, run as JMH runs it, decodes or encodes the expected
 * messages, and leaves no buffer behind (at the paranoid leak detection of every test) and nothing in the channel.
 */
@ExtendWith(NettyLeakCheck.class)
class CodecBenchmarksTest {
    /** How JMH's own tests make one outside a benchmark run. */
    private static final Blackhole BLACKHOLE = new Blackhole(
            "Today's password is swordfish. I understand instantiating Blackholes directly is dangerous.");
    private static final int RUNS = 3;
    private static final byte[] PATTERN_4K = ByteBufUtil.getBytes(Frames.data(Unpooled.buffer(KIB4), KIB4));

    @RegisterExtension
    final EmbeddedChannels channels = new EmbeddedChannels();

    @Test
    void requestDecodeOperationsDecodeOneReadEach() {
        RequestDecodeBenchmark b = new RequestDecodeBenchmark();
        Sink sink = Sink.keeping(BLACKHOLE);
        b.setUp(sink, Sink.keeping(BLACKHOLE));
        channels.track(b.channel);
        channels.track(b.inFlightChannel);
        channels.afterwards(b::tearDown);
        for (int run = 0; run < RUNS; run++) {
            b.write4k();
            assertRequests(sink, NbdCommand.WRITE, 1, KIB4);
            b.read4k();
            assertRequests(sink, NbdCommand.READ, 2, 0);
            b.write1m();
            assertRequests(sink, NbdCommand.WRITE, 3, MIB1);
            b.write1mIn64kReads();
            assertRequests(sink, NbdCommand.WRITE, 4, MIB1);
            b.reads4kBatch32();
            List<Object> batch = sink.takeKept();
            try {
                assertThat(batch).hasSize(RequestDecodeBenchmark.BATCH);
                for (int i = 0; i < batch.size(); i++) {
                    NbdRequest r = (NbdRequest) batch.get(i);
                    assertThat(r.command()).isEqualTo(NbdCommand.READ);
                    assertThat(r.cookie()).isEqualTo(100 + i);
                    assertThat(r.offset()).isEqualTo((long) i * 7 * KIB4);
                    assertThat(r.length()).isEqualTo(KIB4);
                }
            } finally {
                release(batch);
            }
            b.decodeWrites4kBatch();
            List<Object> writes = b.inFlight.takeKept();
            try {
                assertThat(writes).hasSize(RequestDecodeBenchmark.BATCH);
                for (int i = 0; i < writes.size(); i++) {
                    NbdRequest r = (NbdRequest) writes.get(i);
                    assertThat(r.command()).isEqualTo(NbdCommand.WRITE);
                    assertThat(r.cookie()).isEqualTo(200 + i);
                    assertThat(r.offset()).isEqualTo((long) i * KIB4);
                    assertThat(r.content().readableBytes()).isEqualTo(KIB4);
                    assertThat(ByteBufUtil.getBytes(r.content())).isEqualTo(PATTERN_4K);
                }
            } finally {
                release(writes);
            }
            b.baseline1mIn64kReadsAlone(BLACKHOLE);
            assertThat(sink.takeKept()).isEmpty();
            // fed again in the next run: the decoder must have released exactly what it read
            assertThat(List.of(b.write4k, b.read4k, b.write1m, b.reads4kBatch)).allMatch(w -> w.refCnt() == 1);
            assertThat(b.writes4kBatchReads).hasSize(3).allMatch(w -> w.refCnt() == 1);
        }
    }

    private static void assertRequests(Sink sink, NbdCommand command, long cookie, int payload) {
        List<Object> got = sink.takeKept();
        try {
            assertThat(got).hasSize(1);
            NbdRequest r = (NbdRequest) got.get(0);
            assertThat(r.command()).isEqualTo(command);
            assertThat(r.cookie()).isEqualTo(cookie);
            assertThat(r.length()).isEqualTo(command == NbdCommand.WRITE ? payload : KIB4);
            assertThat(r.content().readableBytes()).isEqualTo(payload);
            if (payload > 0 && cookie != 4) { // the split WRITE's payload is whatever the allocator gave
                assertThat(r.content().getByte(r.content().readerIndex() + 5)).isEqualTo((byte) (5 * 7 + 1));
            }
        } finally {
            release(got);
        }
    }

    @Test
    void replyEncodeOperationsWriteHeaderAndDataBuffers() {
        ReplyEncodeBenchmark b = new ReplyEncodeBenchmark();
        Sink sink = Sink.keeping(BLACKHOLE);
        b.setUp(sink);
        channels.track(b.channel);
        channels.afterwards(b::tearDown);
        for (int run = 0; run < RUNS; run++) {
            b.simpleOk();
            assertWritten(sink, "67446698" + "00000000" + cookie(b), 0);
            b.simpleRead4k();
            assertWritten(sink, "67446698" + "00000000" + cookie(b), KIB4);
            b.simpleRead1m();
            assertWritten(sink, "67446698" + "00000000" + cookie(b), MIB1);
            b.structuredRead4k();
            assertWritten(sink, "668e33ef" + "0001" + "0001" + cookie(b) + "00001008" + "0000000000001000", KIB4);
            b.structuredRead1m();
            assertWritten(sink, "668e33ef" + "0001" + "0001" + cookie(b) + "00100008" + "0000000000100000", MIB1);
            b.simpleError();
            assertWritten(sink, "67446698" + "00000016" + cookie(b), 0);
            b.structuredError();
            int n = ReplyEncodeBenchmark.ERROR_MESSAGE.length();
            assertWritten(sink, "668e33ef" + "0001" + "8001" + cookie(b) + String.format("%08x", 6 + n), 6 + n);
        }
        assertThat(List.of(b.data4k, b.data1m)).allMatch(d -> d.refCnt() == 1);
    }

    private static String cookie(ReplyEncodeBenchmark b) {
        return String.format("%016x", b.cookie);
    }

    @Test
    void clientOperationsDecodeAndEncodeOneMessageEach() {
        ClientCodecBenchmark b = new ClientCodecBenchmark();
        Sink sink = Sink.keeping(BLACKHOLE);
        b.setUp(sink);
        channels.track(b.inbound);
        channels.track(b.outbound);
        channels.afterwards(b::tearDown);
        for (int run = 0; run < RUNS; run++) {
            b.decodeSimpleRead4k();
            List<Object> got = sink.takeKept();
            try {
                assertThat(got).singleElement().isInstanceOfSatisfying(NbdSimpleReply.class, r -> {
                    assertThat(r.cookie()).isEqualTo(1);
                    assertThat(r.error()).isZero();
                    assertThat(r.content().readableBytes()).isEqualTo(KIB4);
                });
            } finally {
                release(got);
            }
            b.decodeStructuredRead4k();
            got = sink.takeKept();
            try {
                assertThat(got).singleElement().isInstanceOfSatisfying(NbdStructuredReply.class, r -> {
                    assertThat(r.cookie()).isEqualTo(2);
                    assertThat(r.isDone()).isTrue();
                    assertThat(r.offset()).isEqualTo(4096);
                    assertThat(r.content().readableBytes()).isEqualTo(KIB4);
                });
            } finally {
                release(got);
            }
            b.encodeWrite4k();
            assertWritten(sink, "25609513" + "0000" + "0001" + String.format("%016x", b.cookie)
                    + "0000000000000000" + "00001000", KIB4);
            b.encodeRead4k();
            assertWritten(sink, "25609513" + "0000" + "0000" + String.format("%016x", b.cookie)
                    + "0000000000000000" + "00001000", 0);
        }
        assertThat(List.of(b.simpleRead4kReply, b.structuredRead4kReply, b.payload4k))
                .allMatch(w -> w.refCnt() == 1);
    }

    /** One header buffer, then the payload as a buffer of its own when there is one. */
    private static void assertWritten(Sink sink, String headerHex, int payload) {
        List<Object> got = sink.takeKept();
        try {
            assertThat(got).hasSize(payload > 0 ? 2 : 1).allMatch(m -> m instanceof ByteBuf);
            assertThat(ByteBufUtil.hexDump((ByteBuf) got.get(0))).isEqualTo(headerHex);
            if (payload > 0) {
                assertThat(((ByteBuf) got.get(1)).readableBytes()).isEqualTo(payload);
            }
        } finally {
            release(got);
        }
    }

    @Test
    void releasingSinkLeavesNoBufferBehind() {
        Sink sink = Sink.releasing(BLACKHOLE);
        RequestDecodeBenchmark decode = new RequestDecodeBenchmark();
        decode.setUp(sink, Sink.keeping(BLACKHOLE));
        ReplyEncodeBenchmark encode = new ReplyEncodeBenchmark();
        encode.setUp(sink);
        ClientCodecBenchmark client = new ClientCodecBenchmark();
        client.setUp(sink);
        try {
            for (int run = 0; run < RUNS; run++) {
                decode.write4k();
                decode.read4k();
                decode.write1m();
                decode.write1mIn64kReads();
                decode.reads4kBatch32();
                decode.writes4kBatch32In64kReads();
                assertThat(decode.inFlight.kept()).isEmpty();
                encode.simpleOk();
                encode.simpleRead4k();
                encode.simpleRead1m();
                encode.structuredRead4k();
                encode.structuredRead1m();
                encode.simpleError();
                encode.structuredError();
                client.decodeSimpleRead4k();
                client.decodeStructuredRead4k();
                client.encodeWrite4k();
                client.encodeRead4k();
            }
            // per run: 4 + 32 requests decoded; 12 reply buffers; 2 replies decoded and 3 request buffers
            assertThat(sink.messages()).isEqualTo(RUNS * ((4 + RequestDecodeBenchmark.BATCH) + (1 + 2 * 4 + 1 + 2)
                    + (2 + 2 + 1)));
        } finally {
            decode.tearDown();
            encode.tearDown();
            client.tearDown();
        }
    }

    @Test
    void forksRunTheBenchmarksOnThreadsThatNettyRecyclesBuffersOn() throws Exception {
        assertThat(Run.EXECUTOR_CLASS).endsWith("=" + EventLoopThreads.class.getName());
        EventLoopThreads threads = new EventLoopThreads(1, "jmh-worker");
        try {
            assertThat(threads.submit(FastThreadLocalThread::currentThreadWillCleanupFastThreadLocals).get())
                    .isTrue();
        } finally {
            threads.shutdown();
        }
    }

    private static void release(List<Object> messages) {
        messages.forEach(ReferenceCountUtil::release);
    }
}
