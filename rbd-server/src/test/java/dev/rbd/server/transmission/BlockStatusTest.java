package dev.rbd.server.transmission;

import static dev.rbd.protocol.NbdConstants.CMD_FLAG_REQ_ONE;
import static org.assertj.core.api.Assertions.assertThat;

import dev.rbd.protocol.NbdCommand;
import dev.rbd.protocol.NbdError;
import dev.rbd.server.MetaContexts;
import dev.rbd.server.MetaContexts.Chunk;
import dev.rbd.server.MetaContexts.Extent;
import dev.rbd.server.RawNbdClient;
import dev.rbd.server.RawNbdClient.Reply;
import dev.rbd.server.RbdServer;
import dev.rbd.server.TestServers;
import dev.rbd.server.store.Extents;
import dev.rbd.server.store.MemoryBlockStore;
import io.netty.buffer.Unpooled;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** BLOCK_STATUS over a real socket: extents of base:allocation, REQ_ONE, the extent cap, and every refusal. */
class BlockStatusTest {
    private static final int BLOCK_STATUS = NbdCommand.BLOCK_STATUS.code();
    private static final int HOLE_ZERO = 3;
    private static final long MIB = 1 << 20;

    private RbdServer server;
    private int port;
    private final MemoryBlockStore disk = new MemoryBlockStore(8 * MIB);

    /** Alternating 512-byte extents of data and holes: more than a reply may carry. */
    private static final class Fragmented extends MemoryBlockStore {
        Fragmented(long size) {
            super(size);
        }

        @Override
        public void allocation(Extents out) {
            while (!out.full()) {
                long pos = out.position();
                out.add(512 - pos % 512, (pos / 512) % 2 == 0 ? 0 : HOLE_ZERO);
            }
        }
    }

    @BeforeEach
    void start() throws Exception {
        // data at [4 KiB, 12 KiB) and [1 MiB, 1 MiB + 4 KiB); the rest never written
        disk.write(4096, Unpooled.wrappedBuffer(new byte[8192]));
        disk.write(MIB, Unpooled.wrappedBuffer(new byte[4096]));
        MemoryBlockStore usr = new MemoryBlockStore(MIB);
        usr.write(0, Unpooled.wrappedBuffer(new byte[4096]));
        server = TestServers.start(TestServers.export("disk", disk, false), TestServers.export("usr", usr, true),
                TestServers.export("frag", new Fragmented(64 * MIB), false),
                TestServers.export("huge", new MemoryBlockStore(Long.MAX_VALUE), false));
        port = server.port();
    }

    @AfterEach
    void stop() {
        server.close();
    }

    private static Chunk status(RawNbdClient c, int flags, long offset, long length) throws Exception {
        long cookie = System.nanoTime();
        c.request(flags, BLOCK_STATUS, cookie, offset, length, null);
        Reply r = c.readReply(0);
        assertThat(r.cookie()).isEqualTo(cookie);
        assertThat(r.error()).as("error").isZero();
        assertThat(r.type()).as("a BLOCK_STATUS chunk").isEqualTo(5);
        assertThat(r.flags() & 1).as("DONE on the one chunk").isEqualTo(1);
        Chunk chunk = MetaContexts.chunk(r.data());
        assertThat(chunk.id()).isEqualTo(1);
        assertThat(chunk.extents()).isNotEmpty().allSatisfy(e -> assertThat(e.length()).isPositive());
        assertThat(chunk.covered()).as("never past the request").isLessThanOrEqualTo(length);
        return chunk;
    }

    private static void refused(RawNbdClient c, int flags, long offset, long length) throws Exception {
        c.request(flags, BLOCK_STATUS, 9, offset, length, null);
        Reply r = c.readReply(0);
        assertThat(r.error()).as("offset %s length %d", Long.toUnsignedString(offset), length)
                .isEqualTo(NbdError.EINVAL.code());
    }

    @Test
    void reportsWrittenPagesAsDataAndTheRestAsZeroHoles() throws Exception {
        try (RawNbdClient c = MetaContexts.open(port, "disk", "disk", "base:allocation")) {
            assertThat(status(c, 0, 0, 2 * MIB).extents()).containsExactly(new Extent(4096, HOLE_ZERO),
                    new Extent(8192, 0), new Extent(MIB - 12288, HOLE_ZERO), new Extent(4096, 0),
                    new Extent(MIB - 4096, HOLE_ZERO));
            // unaligned: the first and last extents are cut at the request's ends
            assertThat(status(c, 0, 4095, 8194).extents()).containsExactly(new Extent(1, HOLE_ZERO),
                    new Extent(8192, 0), new Extent(1, HOLE_ZERO));
            // the whole export, to its last byte
            assertThat(status(c, 0, 0, 8 * MIB).covered()).isEqualTo(8 * MIB);
            assertThat(status(c, 0, 8 * MIB - 1, 1).extents()).containsExactly(new Extent(1, HOLE_ZERO));
        }
    }

    @Test
    void reqOneGivesExactlyOneExtentNotPastTheRequest() throws Exception {
        try (RawNbdClient c = MetaContexts.open(port, "disk", "disk", "base:allocation")) {
            assertThat(status(c, CMD_FLAG_REQ_ONE, 0, 2 * MIB).extents()).containsExactly(new Extent(4096, HOLE_ZERO));
            assertThat(status(c, CMD_FLAG_REQ_ONE, 4096, 100).extents()).containsExactly(new Extent(100, 0));
            assertThat(status(c, CMD_FLAG_REQ_ONE, 6000, MIB).extents()).containsExactly(new Extent(6288, 0));
        }
    }

    @Test
    void extentsAreCappedAndStillCoverTheStartOfTheRequest() throws Exception {
        try (RawNbdClient c = MetaContexts.open(port, "frag", "frag", "base:allocation")) {
            Chunk all = status(c, 0, 0, 64 * MIB);
            assertThat(all.extents()).hasSize(BlockStatusReplies.MAX_EXTENTS);
            assertThat(all.covered()).isEqualTo(BlockStatusReplies.MAX_EXTENTS * 512L);
            assertThat(all.extents().get(0)).isEqualTo(new Extent(512, 0));
            assertThat(all.extents().get(1)).isEqualTo(new Extent(512, HOLE_ZERO));
            // an unaligned start
            assertThat(status(c, 0, 100, 64 * MIB - 100).extents().get(0))
                    .isEqualTo(new Extent(412, 0));
            assertThat(status(c, CMD_FLAG_REQ_ONE, 700, 64 * MIB - 700).extents()).containsExactly(
                    new Extent(324, HOLE_ZERO));
        }
    }

    @Test
    void badRangesAndFlagsGetEinvalAndTheConnectionStays() throws Exception {
        try (RawNbdClient c = MetaContexts.open(port, "disk", "disk", "base:allocation")) {
            refused(c, 0, 0, 0);
            refused(c, 0, 8 * MIB, 1);
            refused(c, 0, 8 * MIB - 1, 2);
            refused(c, 0, Long.MIN_VALUE, 1); // 2^63 as unsigned
            refused(c, 0, -1L, 0xffff_ffffL);
            refused(c, 0x100, 0, 512);
            refused(c, 4 /* DF */, 0, 512);
            assertThat(status(c, 0, 0, 4096).covered()).isEqualTo(4096);
        }
        try (RawNbdClient c = MetaContexts.open(port, "huge", "huge", "base:allocation")) {
            refused(c, 0, Long.MAX_VALUE - 10, 11);
            // the largest length a request can carry: one extent of 2^32 - 1 bytes
            assertThat(status(c, 0, 0, 0xffff_ffffL).extents()).containsExactly(new Extent(0xffff_ffffL, HOLE_ZERO));
            assertThat(status(c, CMD_FLAG_REQ_ONE, Long.MAX_VALUE - 10, 10).extents())
                    .containsExactly(new Extent(10, HOLE_ZERO));
        }
    }

    @Test
    void reqOneOnOtherCommandsIsEinval() throws Exception {
        try (RawNbdClient c = MetaContexts.open(port, "disk", "disk", "base:allocation")) {
            c.request(CMD_FLAG_REQ_ONE, NbdCommand.READ.code(), 3, 0, 512, null);
            assertThat(c.readReply(0).error()).isEqualTo(NbdError.EINVAL.code());
        }
    }

    @Test
    void withoutASelectedContextBlockStatusIsEinval() throws Exception {
        try (RawNbdClient c = new RawNbdClient(port).open("disk", true)) {
            refused(c, 0, 0, 4096);
            refused(c, CMD_FLAG_REQ_ONE, 0, 4096);
        }
        try (RawNbdClient c = MetaContexts.open(port, "disk", "disk", "no:such")) {
            refused(c, 0, 0, 4096);
        }
    }

    @Test
    void readOnlyExportsAnswerToo() throws Exception {
        try (RawNbdClient c = MetaContexts.open(port, "usr", "usr", "base:allocation")) {
            assertThat(status(c, 0, 0, MIB).extents()).containsExactly(new Extent(4096, 0),
                    new Extent(MIB - 4096, HOLE_ZERO));
        }
    }

    @Test
    void manyPipelinedRequestsEachGetTheirReply() throws Exception {
        try (RawNbdClient c = MetaContexts.open(port, "disk", "disk", "base:allocation")) {
            for (int i = 0; i < 200; i++) {
                c.request(i % 2 == 0 ? 0 : CMD_FLAG_REQ_ONE, BLOCK_STATUS, i, i * 4096L, 4096, null);
            }
            boolean[] seen = new boolean[200];
            for (int i = 0; i < 200; i++) {
                Reply r = c.readReply(0);
                assertThat(r.error()).isZero();
                assertThat(MetaContexts.chunk(r.data()).covered()).isEqualTo(4096);
                seen[(int) r.cookie()] = true;
            }
            for (boolean s : seen) {
                assertThat(s).isTrue();
            }
        }
    }
}
