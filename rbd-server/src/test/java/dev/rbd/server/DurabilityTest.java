package dev.rbd.server;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rbd.protocol.NbdCommand;
import dev.rbd.protocol.NbdConstants;
import dev.rbd.protocol.NbdError;
import dev.rbd.server.RawNbdClient.Reply;
import dev.rbd.server.export.Export;
import dev.rbd.server.export.SyncMode;
import dev.rbd.server.store.FileBlockStore;
import dev.rbd.server.store.RecordingStore;
import dev.rbd.server.store.RecordingStore.Event;
import dev.rbd.server.store.RecordingStore.Kind;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Proves the durability promise on a real file with real fdatasync: every write reply is preceded by a sync that
 * started after the write completed and ended before the reply arrived, and concurrent writes share syncs.
 */
class DurabilityTest {
    private static final int CONNECTIONS = 4;
    private static final int IN_FLIGHT = 32;
    private static final int WRITES_PER_CONNECTION = 256;

    @TempDir
    Path dir;

    private Export export(RecordingStore store, SyncMode mode) {
        return Export.builder("disk", store).description("d").syncMode(mode).build();
    }

    private RecordingStore fileStore() throws Exception {
        Path img = dir.resolve("disk.img");
        FileBlockStore.createSparse(img, 64L << 20);
        return new RecordingStore(FileBlockStore.open(img, false));
    }

    @Test
    void everyWriteReplyFollowsASyncThatCoveredItAndSyncsAreShared() throws Exception {
        RecordingStore store = fileStore();
        Export export = export(store, SyncMode.ALWAYS);
        RbdServer server = TestServers.start(export);
        ExecutorService pool = Executors.newFixedThreadPool(CONNECTIONS);
        try {
            List<Future<?>> done = new ArrayList<>();
            for (int c = 0; c < CONNECTIONS; c++) {
                int conn = c;
                done.add(pool.submit(() -> {
                    writeLoad(server.port(), store, conn);
                    return null;
                }));
            }
            for (Future<?> f : done) {
                f.get();
            }
        } finally {
            pool.shutdownNow();
            server.close();
        }
        List<Event> events = store.events();
        int writes = CONNECTIONS * WRITES_PER_CONNECTION;
        assertEveryReplyCovered(events, writes);
        long syncs = events.stream().filter(e -> e.kind() == Kind.SYNC_END).count();
        System.out.printf("durability: %d writes acknowledged with %d syncs (%.1f writes per sync)%n", writes, syncs,
                (double) writes / syncs);
        assertThat(syncs).as("group commit: fewer syncs than writes").isLessThan(writes / 2);
    }

    /** Writes 4 KiB blocks, IN_FLIGHT at a time; records each reply's arrival in the store's event order. */
    private static void writeLoad(int port, RecordingStore store, int conn) throws Exception {
        try (RawNbdClient c = new RawNbdClient(port).open("disk", false)) {
            byte[] block = new byte[4096];
            int sent = 0;
            int received = 0;
            while (received < WRITES_PER_CONNECTION) {
                while (sent < WRITES_PER_CONNECTION && sent - received < IN_FLIGHT) {
                    long offset = ((long) conn * WRITES_PER_CONNECTION + sent) * 4096;
                    c.request(0, NbdCommand.WRITE.code(), offset, offset, block.length, block);
                    sent++;
                }
                Reply r = c.readReply(0);
                assertThat(r.error()).isZero();
                store.record(Kind.REPLY, r.cookie());
                received++;
            }
        }
    }

    /** For each write: WRITE_DONE < SYNC_START(k) and SYNC_END(k) < REPLY for one and the same sync k. */
    static void assertEveryReplyCovered(List<Event> events, int expectedWrites) {
        Map<Long, Integer> writeDone = new HashMap<>();
        int replies = 0;
        // index of the latest SYNC_START, and for it the matching end; syncs never overlap (one sync thread)
        List<int[]> syncs = new ArrayList<>();
        int openStart = -1;
        for (int i = 0; i < events.size(); i++) {
            Event e = events.get(i);
            switch (e.kind()) {
                case WRITE_DONE -> writeDone.put(e.offset(), i);
                case SYNC_START -> openStart = i;
                case SYNC_END -> syncs.add(new int[] {openStart, i});
                case REPLY -> {
                    replies++;
                    Integer w = writeDone.get(e.offset());
                    assertThat(w).as("reply for offset %d without a completed write", e.offset()).isNotNull();
                    int reply = i;
                    boolean covered = syncs.stream().anyMatch(s -> s[0] > w && s[1] < reply);
                    assertThat(covered).as("write at %d (event %d) replied (event %d) with no covering sync",
                            e.offset(), w, reply).isTrue();
                }
            }
        }
        assertThat(replies).isEqualTo(expectedWrites);
    }

    @Test
    void inFlushModeFuaAndFlushStillWaitForARealSync() throws Exception {
        RecordingStore store = fileStore();
        RbdServer server = TestServers.start(export(store, SyncMode.FLUSH));
        try (RawNbdClient c = new RawNbdClient(server.port()).open("disk", false)) {
            byte[] block = new byte[4096];
            c.request(0, NbdCommand.WRITE.code(), 0, 0, 4096, block);
            assertThat(c.readReply(0).error()).isZero();
            store.record(Kind.REPLY, -2);
            c.request(NbdConstants.CMD_FLAG_FUA, NbdCommand.WRITE.code(), 4096, 4096, 4096, block);
            assertThat(c.readReply(0).error()).isZero();
            store.record(Kind.REPLY, 4096);
            c.request(0, NbdCommand.FLUSH.code(), 1, 0, 0, null);
            int flushRequested = store.events().size();
            assertThat(c.readReply(0).error()).isZero();
            List<Event> events = store.events();
            // the plain write was replied to before any sync
            assertThat(events.subList(0, 2)).extracting(Event::kind).containsExactly(Kind.WRITE_DONE, Kind.REPLY);
            // the FUA write was covered
            assertEveryReplyCovered(events.subList(2, flushRequested), 1);
            // the FLUSH ran a sync after it was sent
            assertThat(events.subList(flushRequested, events.size())).extracting(Event::kind)
                    .contains(Kind.SYNC_START, Kind.SYNC_END);
        } finally {
            server.close();
        }
    }

    @Test
    void aFailedSyncFailsItsWritesWithEioAndTheExportRefusesFurtherWrites() throws Exception {
        RecordingStore store = fileStore();
        RbdServer server = TestServers.start(export(store, SyncMode.ALWAYS));
        try (RawNbdClient c = new RawNbdClient(server.port()).open("disk", false)) {
            byte[] block = new byte[4096];
            store.failNextSyncs(1);
            c.request(0, NbdCommand.WRITE.code(), 1, 0, 4096, block);
            assertThat(c.readReply(0).error()).isEqualTo(NbdError.EIO.code());
            // the disk "recovered", but a later sync could succeed without the lost pages: keep refusing
            c.request(0, NbdCommand.WRITE.code(), 2, 4096, 4096, block);
            assertThat(c.readReply(0).error()).isEqualTo(NbdError.EIO.code());
            c.request(0, NbdCommand.FLUSH.code(), 3, 0, 0, null);
            assertThat(c.readReply(0).error()).isEqualTo(NbdError.EIO.code());
            c.request(0, NbdCommand.READ.code(), 4, 0, 4096, null);
            assertThat(c.readReply(4096).error()).as("reads still work").isZero();
        } finally {
            server.close();
        }
    }
}
