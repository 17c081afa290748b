package dev.rbd.server.transmission;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rbd.protocol.NbdCommand;
import dev.rbd.protocol.NbdError;
import dev.rbd.protocol.NbdOption;
import dev.rbd.server.MetaContexts;
import dev.rbd.server.MetaContexts.Chunk;
import dev.rbd.server.MetaContexts.Extent;
import dev.rbd.server.RawNbdClient;
import dev.rbd.server.RawNbdClient.Reply;
import dev.rbd.server.RbdServer;
import dev.rbd.server.TestServers;
import dev.rbd.server.export.Export;
import dev.rbd.server.store.MemoryBlockStore;
import io.netty.buffer.Unpooled;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code qemu:allocation-depth}: offered by exports with temporary overlays only, decided before GO has made the
 * connection's overlay; 1 for what the connection wrote or zeroed, 2 for golden data, 0 for golden holes.
 */
class AllocationDepthTest {
    private static final int LIST = NbdOption.LIST_META_CONTEXT.code();
    private static final int SET = NbdOption.SET_META_CONTEXT.code();
    private static final int BLOCK_STATUS = NbdCommand.BLOCK_STATUS.code();
    private static final int WRITE = NbdCommand.WRITE.code();
    private static final int WRITE_ZEROES = NbdCommand.WRITE_ZEROES.code();
    private static final String BASE = "1 base:allocation";
    private static final String DEPTH = "2 qemu:allocation-depth";
    private static final int HOLE_ZERO = 3;
    private static final long MIB = 1 << 20;

    @TempDir
    Path overlays;
    private RbdServer server;
    private int port;

    @BeforeEach
    void start() throws Exception {
        // the golden image: data at [64 KiB, 128 KiB) and [1 MiB, 1 MiB + 4 KiB); holes elsewhere
        MemoryBlockStore golden = new MemoryBlockStore(2 * MIB);
        golden.write(64 << 10, Unpooled.wrappedBuffer(new byte[64 << 10]));
        golden.write(MIB, Unpooled.wrappedBuffer(new byte[4096]));
        Export kiosk = Export.builder("kiosk", golden).description("kiosk for tests").temporaryOverlays(overlays)
                .build();
        server = TestServers.start(kiosk, TestServers.export("disk", new MemoryBlockStore(MIB), false));
        port = server.port();
    }

    @AfterEach
    void stop() {
        server.close();
    }

    private RawNbdClient structured() throws Exception {
        return new RawNbdClient(port).greet().structuredReplies();
    }

    /** The BLOCK_STATUS chunks for a range, one per selected context, in the order they arrive. */
    private static List<Chunk> status(RawNbdClient c, long offset, long length, int contexts) throws Exception {
        c.request(0, BLOCK_STATUS, 7, offset, length, null);
        List<Chunk> chunks = new ArrayList<>();
        for (int i = 0; i < contexts; i++) {
            Reply r = c.readReply(0);
            assertThat(r.error()).as("error").isZero();
            assertThat(r.type()).as("a BLOCK_STATUS chunk").isEqualTo(5);
            assertThat(r.flags() & 1).as("DONE on the last chunk only").isEqualTo(i + 1 == contexts ? 1 : 0);
            Chunk chunk = MetaContexts.chunk(r.data());
            assertThat(chunk.covered()).isLessThanOrEqualTo(length);
            chunks.add(chunk);
        }
        return chunks;
    }

    private static Chunk depth(List<Chunk> chunks) {
        return chunks.stream().filter(ch -> ch.id() == 2).findFirst().orElseThrow();
    }

    private static void ok(RawNbdClient c) throws Exception {
        Reply r = c.readReply(0);
        assertThat(r.error()).isZero();
    }

    @Test
    void listedForOverlayExportsOnlyByNameWildcardAndEmptyQuery() throws Exception {
        try (RawNbdClient c = structured()) {
            assertThat(MetaContexts.contexts(c.option(LIST, MetaContexts.data("kiosk")))).containsExactly(BASE, DEPTH);
            assertThat(MetaContexts.contexts(c.option(LIST, MetaContexts.data("kiosk/c1", "qemu:"))))
                    .containsExactly(DEPTH);
            assertThat(MetaContexts.contexts(c.option(LIST, MetaContexts.data("kiosk", "qemu:allocation-depth",
                    "qemu:dirty-bitmap:x")))).containsExactly(DEPTH);
            // a plain export does not have it: not listed, and SET of it selects nothing
            assertThat(MetaContexts.contexts(c.option(LIST, MetaContexts.data("disk")))).containsExactly(BASE);
            assertThat(MetaContexts.contexts(c.option(LIST, MetaContexts.data("disk", "qemu:")))).isEmpty();
            assertThat(MetaContexts.contexts(c.option(SET, MetaContexts.data("disk", "qemu:allocation-depth"))))
                    .isEmpty();
            // SET by wildcard selects nothing here either
            assertThat(MetaContexts.contexts(c.option(SET, MetaContexts.data("kiosk", "qemu:")))).isEmpty();
            assertThat(MetaContexts.contexts(c.option(SET, MetaContexts.data("kiosk/c1", "qemu:allocation-depth",
                    "base:allocation")))).containsExactly(BASE, DEPTH);
        }
    }

    @Test
    void plainExportWithDepthSetAnswersNoBlockStatus() throws Exception {
        try (RawNbdClient c = MetaContexts.open(port, "disk", "disk", "qemu:allocation-depth")) {
            c.request(0, BLOCK_STATUS, 1, 0, 4096, null);
            assertThat(c.readReply(0).error()).as("no context selected").isEqualTo(NbdError.EINVAL.code());
        }
    }

    @Test
    void depthIsOneForWrittenAndZeroedTwoForGoldenDataZeroForGoldenHoles() throws Exception {
        try (RawNbdClient c = MetaContexts.open(port, "kiosk/c1", "kiosk/c1", "base:allocation",
                "qemu:allocation-depth")) {
            // before any write: the golden's own picture
            assertThat(depth(status(c, 0, 2 * MIB, 2)).extents()).containsExactly(new Extent(64 << 10, 0),
                    new Extent(64 << 10, 2), new Extent(MIB - (128 << 10), 0), new Extent(4096, 2),
                    new Extent(MIB - 4096, 0));
            // a write over a golden hole and golden data; zeroes over golden data
            c.request(0, WRITE, 2, 32 << 10, 64 << 10, new byte[64 << 10]);
            ok(c);
            c.request(0, WRITE_ZEROES, 3, MIB, 4096, null);
            ok(c);
            List<Chunk> both = status(c, 0, 2 * MIB, 2);
            assertThat(depth(both).extents()).containsExactly(new Extent(32 << 10, 0), new Extent(64 << 10, 1),
                    new Extent(32 << 10, 2), new Extent(MIB - (128 << 10), 0), new Extent(4096, 1),
                    new Extent(MIB - 4096, 0));
            Chunk base = both.stream().filter(ch -> ch.id() == 1).findFirst().orElseThrow();
            assertThat(base.extents()).containsExactly(new Extent(32 << 10, HOLE_ZERO), new Extent(96 << 10, 0),
                    new Extent(2 * MIB - (128 << 10), HOLE_ZERO));
            // unaligned, within one block
            assertThat(depth(status(c, (32 << 10) + 1, 10, 2)).extents()).containsExactly(new Extent(10, 1));
        }
        // another connection has its own, fresh overlay: nothing at depth 1
        try (RawNbdClient c = MetaContexts.open(port, "kiosk", "kiosk", "qemu:allocation-depth")) {
            assertThat(status(c, 0, 2 * MIB, 1).get(0).extents()).noneMatch(e -> e.flags() == 1)
                    .contains(new Extent(64 << 10, 2));
        }
    }
}
