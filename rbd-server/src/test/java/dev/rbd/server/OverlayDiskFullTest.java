package dev.rbd.server;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rbd.protocol.NbdCommand;
import dev.rbd.protocol.NbdError;
import dev.rbd.server.RawNbdClient.Reply;
import dev.rbd.server.export.Export;
import dev.rbd.server.store.BlockStore;
import dev.rbd.server.store.MemoryBlockStore;
import dev.rbd.server.store.MemoryOverlayMap;
import dev.rbd.server.store.OverlayBlockStore;
import dev.rbd.server.store.RecordingStore;
import io.netty.buffer.ByteBuf;
import java.io.IOException;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * An overlay whose file system is full: the write that cannot be stored gets ENOSPC, and only it: the same
 * connection reads and flushes on, another client's overlay over the same golden image writes on, and once there is
 * room again the full one writes too. (A real full file system: {@code PersistentOverlayProcessTest}.)
 */
class OverlayDiskFullTest {
    private static final int SIZE = 1 << 20;

    private final AtomicBoolean full = new AtomicBoolean();
    private byte[] goldenBytes;
    private RbdServer server;

    /** An overlay file that fails writes as a full disk does while {@link #full} is set. */
    private final class FullDiskStore extends RecordingStore {
        FullDiskStore() {
            super(new MemoryBlockStore(SIZE));
        }

        @Override
        public void write(long offset, ByteBuf src) throws IOException {
            if (full.get()) {
                throw new IOException("No space left on device");
            }
            super.write(offset, src);
        }
    }

    @BeforeEach
    void start() throws Exception {
        goldenBytes = new byte[SIZE];
        new Random(5).nextBytes(goldenBytes);
        MemoryBlockStore golden = new MemoryBlockStore(SIZE);
        ByteBuf b = io.netty.buffer.Unpooled.wrappedBuffer(goldenBytes);
        golden.write(0, b);
        b.release();
        BlockStore fullOverlay = new OverlayBlockStore(golden, false, new FullDiskStore(),
                MemoryOverlayMap.forSize(SIZE));
        BlockStore otherOverlay = new OverlayBlockStore(golden, false, new MemoryBlockStore(SIZE),
                MemoryOverlayMap.forSize(SIZE));
        server = TestServers.start(Export.builder("root/full", fullOverlay).build(),
                Export.builder("root/other", otherOverlay).build());
    }

    @AfterEach
    void stop() {
        server.close();
    }

    private static byte[] filled(int length, int value) {
        byte[] b = new byte[length];
        Arrays.fill(b, (byte) value);
        return b;
    }

    private static int request(RawNbdClient c, NbdCommand type, long offset, int length, byte[] data)
            throws IOException {
        c.request(0, type.code(), 1, offset, length, data);
        return c.readReply(0).error();
    }

    private static byte[] read(RawNbdClient c, long offset, int length) throws IOException {
        c.request(0, NbdCommand.READ.code(), 2, offset, length, null);
        Reply r = c.readReply(length);
        assertThat(r.error()).isZero();
        return r.data();
    }

    @Test
    void aFullDiskFailsThatWriteOnly() throws Exception {
        try (RawNbdClient a = new RawNbdClient(server.port()).open("root/full", false);
             RawNbdClient b = new RawNbdClient(server.port()).open("root/other", false)) {
            assertThat(request(a, NbdCommand.WRITE, 0, 4096, filled(4096, 1))).isZero();
            full.set(true);
            assertThat(request(a, NbdCommand.WRITE, 8192, 8192, filled(8192, 2)))
                    .as("a whole-block write").isEqualTo(NbdError.ENOSPC.code());
            assertThat(request(a, NbdCommand.WRITE, 20_000, 10, filled(10, 3)))
                    .as("a partial write (read-modify-write)").isEqualTo(NbdError.ENOSPC.code());
            // that request only: the connection reads, flushes, and the other client writes
            assertThat(read(a, 0, 4096)).isEqualTo(filled(4096, 1));
            assertThat(read(a, 8192, 16384)).as("the failed writes left the golden data")
                    .isEqualTo(Arrays.copyOfRange(goldenBytes, 8192, 8192 + 16384));
            assertThat(request(a, NbdCommand.FLUSH, 0, 0, null)).isZero();
            assertThat(request(b, NbdCommand.WRITE, 8192, 4096, filled(4096, 9))).isZero();
            assertThat(read(b, 8192, 4096)).isEqualTo(filled(4096, 9));
            full.set(false);
            assertThat(request(a, NbdCommand.WRITE, 8192, 8192, filled(8192, 2))).isZero();
            assertThat(read(a, 8192, 8192)).isEqualTo(filled(8192, 2));
        }
    }
}
