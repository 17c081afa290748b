package dev.rbd.server.handshake;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.rbd.protocol.ExportNameReply;
import dev.rbd.protocol.FuzzInput;
import dev.rbd.protocol.NbdOption;
import dev.rbd.protocol.NbdReplyType;
import dev.rbd.protocol.OptionReply;
import dev.rbd.protocol.OptionRequest;
import dev.rbd.protocol.ServerGreeting;
import dev.rbd.protocol.TrackingAllocator;
import dev.rbd.protocol.codec.ServerHandshakeDecoder;
import dev.rbd.server.TestServers;
import dev.rbd.server.TestServers.QueuedExecutor;
import dev.rbd.server.export.Connection;
import dev.rbd.server.export.Export;
import dev.rbd.server.export.ServerContext;
import dev.rbd.server.export.SyncMode;
import dev.rbd.server.store.MemoryBlockStore;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOutboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.util.ReferenceCountUtil;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;

/**
 * The server's handshake as a client of any behaviour drives it: the bytes (inputs: see {@link FuzzInput}; the
 * setup byte is not used) go through the real handshake decoder into the {@link HandshakeHandler}, on an
 * {@code EmbeddedChannel} with a read-write export "disk" and a read-only export "ro" over memory. Checked: nothing
 * is thrown out of the pipeline; the greeting comes first; every reply answers the oldest unanswered option, and
 * each option's replies end in ACK or an error (EXPORT_NAME's in its reply), so that once the input is used up
 * every option is answered unless the connection was closed; after the close the writer lock is free and every
 * buffer allocated on the way was released. Bytes behind a GO go on to the transmission handlers, which run too.
 */
class HandshakeHandlerFuzzTest {
    /** What RbdServer passes. */
    private static final int MAX_OPTION_LENGTH = 64 << 10;

    @FuzzTest(maxDuration = "10m")
    void negotiatesAnyOptionStream(FuzzedDataProvider data) throws Exception {
        FuzzInput in = FuzzInput.of(data);
        byte[] wire = in.wire();
        QueuedExecutor io = new QueuedExecutor();
        // exports of their own per input, so that no input sees another's session slots or writer lock
        Export disk = Export.builder("disk", new MemoryBlockStore(64 << 10)).syncMode(SyncMode.FLUSH)
                .sessionGrace(Duration.ZERO).build();
        Export ro = Export.builder("ro", new MemoryBlockStore(64 << 10)).readOnly(true).build();
        ServerContext context = TestServers.context(io, 256L << 20, disk, ro);
        TrackingAllocator alloc = new TrackingAllocator();
        EmbeddedChannel ch = new EmbeddedChannel(false, false);
        ch.config().setAllocator(alloc);
        Replies replies = new Replies();
        try {
            Connection conn = new Connection("fuzz", "127.0.0.1").bind(ch);
            ch.pipeline().addLast(HandshakeHandler.DECODER, new ServerHandshakeDecoder(MAX_OPTION_LENGTH))
                    .addLast("options", replies.options)
                    .addLast(HandshakeHandler.ENCODER, new ChannelOutboundHandlerAdapter())
                    .addLast("handshake", new HandshakeHandler(context, conn));
            ch.register();
            assertThat((Object) ch.readOutbound()).as("the first message").isInstanceOf(ServerGreeting.class);
            for (int from = 0, n; from < wire.length && ch.isOpen(); from += n) {
                n = in.readAt(from);
                ch.writeInbound(alloc.copyOf(wire, from, n));
                settle(ch, io, replies);
            }
            settle(ch, io, replies);
            if (ch.isOpen() && ch.pipeline().get("handshake") != null) {
                assertThat(replies.pending).as("options left unanswered on an open connection").isEmpty();
            }
            ch.close();
            settle(ch, io, replies);
            assertThat(disk.writerLock().owner()).as("the writer lock after the close").isNull();
        } finally {
            ch.finishAndReleaseAll();
            disk.close();
            ro.close();
        }
        assertThat(alloc.unreleased()).as("buffers not released").isEmpty();
    }

    /** Runs what the handlers left to do (disk I/O, tasks on the event loop) and checks what they wrote. */
    private static void settle(EmbeddedChannel ch, QueuedExecutor io, Replies replies) {
        do {
            ch.runPendingTasks();
            replies.check(ch);
        } while (io.runAll() > 0);
    }

    /** The options the handler was given, in order, and a check of each reply against the oldest unanswered one. */
    private static final class Replies {
        final Deque<Integer> pending = new ArrayDeque<>();
        final ChannelInboundHandlerAdapter options = new ChannelInboundHandlerAdapter() {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                if (msg instanceof OptionRequest o) {
                    pending.add(o.option());
                }
                ctx.fireChannelRead(msg);
            }
        };

        void check(EmbeddedChannel ch) {
            for (Object m; (m = ch.readOutbound()) != null; ) {
                try {
                    if (m instanceof OptionReply r) {
                        assertThat(pending).as("options unanswered when %s came", r).isNotEmpty();
                        assertThat(r.option()).as("the option %s answers", r).isEqualTo(pending.peek());
                        // "a reply type with bit 31 set is an error"; errors and ACK end an option's replies
                        if (r.type() == NbdReplyType.ACK.code() || r.type() < 0) {
                            pending.poll();
                        }
                    } else if (m instanceof ExportNameReply) {
                        assertThat(pending.poll()).as("the option EXPORT_NAME's reply answers")
                                .isEqualTo(NbdOption.EXPORT_NAME.code());
                    }
                    // anything else is the transmission phase's, encoded by its codec
                } finally {
                    ReferenceCountUtil.release(m);
                }
            }
        }
    }
}
