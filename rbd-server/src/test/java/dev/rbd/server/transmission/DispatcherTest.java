package dev.rbd.server.transmission;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rbd.protocol.NbdCommand;
import dev.rbd.protocol.NbdConstants;
import dev.rbd.protocol.NbdError;
import dev.rbd.protocol.NbdRequest;
import dev.rbd.server.export.Export;
import dev.rbd.server.store.MemoryBlockStore;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The dispatcher over an in-memory store, without a network: payload ownership and storage work. */
class DispatcherTest {
    private final ExecutorService io = Executors.newFixedThreadPool(2);
    private final MemoryBlockStore store = new MemoryBlockStore(1 << 20);
    private final Export export = Export.builder("m", store).build();
    private final Dispatcher dispatcher = new Dispatcher(export, io);

    @AfterEach
    void stop() {
        io.shutdownNow();
        export.close();
    }

    private Outcome run(NbdRequest r) throws Exception {
        return dispatcher.dispatch(r, false, ByteBufAllocator.DEFAULT).get(5, TimeUnit.SECONDS);
    }

    @Test
    void releasesWritePayloadOnSuccessAndOnRefusal() throws Exception {
        ByteBuf ok = Unpooled.directBuffer(512).writeZero(512);
        assertThat(run(new NbdRequest(0, NbdCommand.WRITE.code(), 1, 0, 512, ok)).ok()).isTrue();
        assertThat(ok.refCnt()).isZero();
        ByteBuf refused = Unpooled.directBuffer(512).writeZero(512);
        Outcome o = run(new NbdRequest(0, NbdCommand.WRITE.code(), 2, (1 << 20) - 1, 512, refused));
        assertThat(o.error()).isEqualTo(NbdError.ENOSPC);
        assertThat(refused.refCnt()).isZero();
    }

    @Test
    void writesInSyncAlwaysModeWaitForTheGroupCommit() throws Exception {
        ByteBuf data = Unpooled.wrappedBuffer(new byte[] {1, 2, 3, 4});
        assertThat(run(new NbdRequest(0, NbdCommand.WRITE.code(), 1, 100, 4, data)).ok()).isTrue();
        assertThat(store.syncCount()).isEqualTo(1);
        Outcome read = run(NbdRequest.of(0, NbdCommand.READ, 2, 100, 4));
        try {
            assertThat(read.data().readableBytes()).isEqualTo(4);
            assertThat(read.data().getByte(3)).isEqualTo((byte) 4);
            assertThat(read.data().isDirect()).as("reads go to pooled direct buffers").isTrue();
        } finally {
            read.data().release();
        }
    }

    @Test
    void validationNamesTheSpecsErrors() {
        assertThat(dispatcher.validate(NbdRequest.of(0, NbdCommand.READ, 1, 0, 1 << 20), false)).isNull();
        assertThat(dispatcher.validate(NbdRequest.of(0, NbdCommand.READ, 1, 1, 1 << 20), false).error())
                .isEqualTo(NbdError.EINVAL);
        assertThat(dispatcher.validate(NbdRequest.of(0, NbdCommand.WRITE_ZEROES, 1, 1, 1 << 20), false).error())
                .isEqualTo(NbdError.ENOSPC);
        assertThat(dispatcher.validate(NbdRequest.of(NbdConstants.CMD_FLAG_DF, NbdCommand.READ, 1, 0, 1), true))
                .isNull();
        assertThat(dispatcher.validate(NbdRequest.of(NbdConstants.CMD_FLAG_FAST_ZERO, NbdCommand.TRIM, 1, 0, 1),
                false).error()).isEqualTo(NbdError.EINVAL);
        assertThat(dispatcher.validate(NbdRequest.withDroppedPayload(0, 1, 1, 0, 64 << 20), false).error())
                .isEqualTo(NbdError.EINVAL);
        assertThat(dispatcher.validate(NbdRequest.of(0, NbdCommand.DISC, 1, 0, 0), false).error())
                .isEqualTo(NbdError.EINVAL);
    }
}
