package dev.rbd.server.transmission;

import static dev.rbd.protocol.NbdConstants.CMD_FLAG_DF;
import static dev.rbd.protocol.NbdConstants.CMD_FLAG_FAST_ZERO;
import static dev.rbd.protocol.NbdConstants.CMD_FLAG_FUA;
import static dev.rbd.protocol.NbdConstants.CMD_FLAG_NO_HOLE;
import static dev.rbd.protocol.NbdConstants.REPLY_FLAG_DONE;
import static dev.rbd.protocol.NbdConstants.REPLY_TYPE_ERROR;
import static dev.rbd.protocol.NbdConstants.REPLY_TYPE_OFFSET_DATA;
import static org.assertj.core.api.Assertions.assertThat;

import dev.rbd.protocol.NbdCommand;
import dev.rbd.protocol.NbdError;
import dev.rbd.server.RawNbdClient;
import dev.rbd.server.RawNbdClient.Reply;
import dev.rbd.server.RbdServer;
import dev.rbd.server.TestServers;
import dev.rbd.server.export.BlockSizes;
import dev.rbd.server.export.Export;
import dev.rbd.server.export.SyncMode;
import dev.rbd.server.store.MemoryBlockStore;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Requests over a real socket: data paths, every error the spec names, and that errors keep the connection. */
class TransmissionTest {
    private static final int READ = NbdCommand.READ.code();
    private static final int WRITE = NbdCommand.WRITE.code();
    private static final long HUGE = Long.MAX_VALUE; // 2^63-1: offsets near the top of the unsigned range

    private RbdServer server;
    private int port;

    @BeforeEach
    void start() throws Exception {
        server = TestServers.start(TestServers.export("disk", new MemoryBlockStore(8 << 20), false),
                TestServers.export("usr", new MemoryBlockStore(1 << 20), true),
                TestServers.export("huge", new MemoryBlockStore(HUGE), false),
                Export.builder("small", new MemoryBlockStore(1 << 20)).description("1 MiB payloads, 512-byte blocks")
                        .shared(true).syncMode(SyncMode.FLUSH).blockSizes(new BlockSizes(512, 4096, 1 << 20)).build());
        port = server.port();
    }

    @AfterEach
    void stop() {
        server.close();
    }

    private static byte[] random(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    @Test
    void writesThenReadsBackWithSimpleReplies() throws Exception {
        try (RawNbdClient c = new RawNbdClient(port).open("disk", false)) {
            byte[] data = random(100_000, 1);
            c.request(0, WRITE, 1, 12345, data.length, data);
            assertThat(c.readReply(0)).extracting(Reply::cookie, Reply::error).containsExactly(1L, 0);
            c.request(0, READ, 2, 12345, data.length, null);
            Reply r = c.readReply(data.length);
            assertThat(r.structured()).isFalse();
            assertThat(r.data()).isEqualTo(data);
        }
    }

    @Test
    void readsComeAsOneOffsetDataChunkWithStructuredReplies() throws Exception {
        try (RawNbdClient c = new RawNbdClient(port).open("disk", true)) {
            byte[] data = random(4096, 2);
            c.request(CMD_FLAG_FUA, WRITE, 1, 8192, data.length, data);
            assertThat(c.readReply(0).error()).isZero();
            c.request(CMD_FLAG_DF, READ, 2, 8192, data.length, null);
            Reply r = c.readReply(0);
            assertThat(r.type()).isEqualTo(REPLY_TYPE_OFFSET_DATA);
            assertThat(r.flags() & REPLY_FLAG_DONE).isNotZero();
            ByteBuffer b = ByteBuffer.wrap(r.data());
            assertThat(b.getLong()).isEqualTo(8192);
            byte[] got = new byte[data.length];
            b.get(got);
            assertThat(got).isEqualTo(data);
        }
    }

    @Test
    void structuredErrorsCarryTheErrorAndAMessage() throws Exception {
        try (RawNbdClient c = new RawNbdClient(port).open("disk", true)) {
            c.request(0, READ, 9, 8 << 20, 1, null);
            Reply r = c.readReply(0);
            assertThat(r.type()).isEqualTo(REPLY_TYPE_ERROR);
            assertThat(r.flags() & REPLY_FLAG_DONE).isNotZero();
            assertThat(r.error()).isEqualTo(NbdError.EINVAL.code());
            int n = ((r.data()[4] & 0xff) << 8) | (r.data()[5] & 0xff);
            assertThat(new String(r.data(), 6, n, StandardCharsets.UTF_8)).contains("beyond the end");
        }
    }

    @Test
    void outOfRangeRequestsGetTheSpecsErrorsAndTheConnectionStaysUsable() throws Exception {
        try (RawNbdClient c = new RawNbdClient(port).open("disk", false)) {
            long size = 8 << 20;
            expect(c, 0, READ, size, 1, null, NbdError.EINVAL);
            expect(c, 0, READ, size - 1, 2, null, NbdError.EINVAL);
            expect(c, 0, WRITE, size - 1, 2, new byte[2], NbdError.ENOSPC);
            expect(c, 0, NbdCommand.WRITE_ZEROES.code(), size, 1, null, NbdError.ENOSPC);
            expect(c, 0, NbdCommand.TRIM.code(), size - 10, 11, null, NbdError.EINVAL);
            expect(c, 0, NbdCommand.CACHE.code(), -1L, 1, null, NbdError.EINVAL);
            // offset + length wraps around 2^64: must not look "in range"
            expect(c, 0, READ, 0xFFFF_FFFF_FFFF_F000L, 0x2000, null, NbdError.EINVAL);
            expect(c, 0, WRITE, -4096L, 4096, new byte[4096], NbdError.ENOSPC);
            // zero-length at the very end is fine
            expect(c, 0, READ, size, 0, null, null);
            c.request(0, READ, 77, 0, 4, null);
            assertThat(c.readReply(4).error()).isZero();
        }
    }

    @Test
    void offsetsAboveTwoToTheSixtyThreeAreUnsignedNotNegative() throws Exception {
        try (RawNbdClient c = new RawNbdClient(port).open("huge", false)) {
            assertThat(c.size).isEqualTo(HUGE);
            byte[] data = random(512, 3);
            long top = HUGE - 512;
            expect(c, 0, WRITE, top, 512, data, null);
            c.request(0, READ, 5, top, 512, null);
            assertThat(c.readReply(512).data()).isEqualTo(data);
            expect(c, 0, READ, HUGE - 100, 200, null, NbdError.EINVAL);
            expect(c, 0, READ, Long.MIN_VALUE, 1, null, NbdError.EINVAL); // 2^63 as unsigned
            expect(c, 0, NbdCommand.TRIM.code(), HUGE - 1, 0xFFFF_FFFFL, null, NbdError.EINVAL);
        }
    }

    @Test
    void unknownCommandsAndFlagsGetEinval() throws Exception {
        try (RawNbdClient c = new RawNbdClient(port).open("disk", false)) {
            expect(c, 0, 99, 0, 0, null, NbdError.EINVAL);
            expect(c, 0, NbdCommand.BLOCK_STATUS.code(), 0, 512, null, NbdError.EINVAL);
            expect(c, 0x100, READ, 0, 512, null, NbdError.EINVAL);
            expect(c, CMD_FLAG_NO_HOLE, WRITE, 0, 1, new byte[1], NbdError.EINVAL);
            expect(c, CMD_FLAG_DF, READ, 0, 512, null, NbdError.EINVAL); // DF without structured replies
            expect(c, CMD_FLAG_FUA, NbdCommand.FLUSH.code(), 0, 0, null, null);
        }
    }

    @Test
    void readOnlyExportRefusesWritesWithEperm() throws Exception {
        try (RawNbdClient c = new RawNbdClient(port).open("usr", true)) {
            expect(c, 0, WRITE, 0, 512, new byte[512], NbdError.EPERM);
            expect(c, 0, NbdCommand.TRIM.code(), 0, 512, null, NbdError.EPERM);
            expect(c, 0, NbdCommand.WRITE_ZEROES.code(), 0, 512, null, NbdError.EPERM);
            expect(c, 0, NbdCommand.FLUSH.code(), 0, 0, null, null);
            c.request(0, READ, 1, 0, 512, null);
            assertThat(c.readReply(0).error()).isZero();
        }
    }

    @Test
    void misalignedAndOversizedRequestsGetEinvalAndTheConnectionGoesOn() throws Exception {
        try (RawNbdClient c = new RawNbdClient(port).open("small", false)) {
            expect(c, 0, READ, 1, 512, null, NbdError.EINVAL);
            expect(c, 0, WRITE, 0, 100, new byte[100], NbdError.EINVAL);
            expect(c, 0, READ, 0, 2 << 20, null, NbdError.EINVAL);
            // a 2 MiB write against a 1 MiB maximum: read past and refused, not a disconnect
            expect(c, 0, WRITE, 0, 2 << 20, new byte[2 << 20], NbdError.EINVAL);
            byte[] data = random(4096, 4);
            expect(c, 0, WRITE, 4096, 4096, data, null);
            c.request(0, READ, 3, 4096, 4096, null);
            assertThat(c.readReply(4096).data()).isEqualTo(data);
        }
    }

    @Test
    void absurdWriteLengthOrBadMagicClosesOnlyThatConnection() throws Exception {
        try (RawNbdClient other = new RawNbdClient(port).open("disk", false)) {
            try (RawNbdClient c = new RawNbdClient(port).open("disk", false)) {
                c.request(0, WRITE, 1, 0, 0xFFFF_0000L, null); // ~4 GiB payload announced, none sent
                assertThat(c.closedByServer()).isTrue();
            }
            try (RawNbdClient c = new RawNbdClient(port).open("disk", false)) {
                c.out.writeInt(0x12345678);
                c.out.write(new byte[24]);
                c.out.flush();
                assertThat(c.closedByServer()).isTrue();
            }
            expect(other, 0, READ, 0, 16, null, null);
        }
    }

    @Test
    void writeZeroesAndTrimReadBackAsZeroes() throws Exception {
        try (RawNbdClient c = new RawNbdClient(port).open("disk", true)) {
            byte[] ones = new byte[65536];
            java.util.Arrays.fill(ones, (byte) 1);
            for (int flags : new int[] {0, CMD_FLAG_NO_HOLE, CMD_FLAG_FAST_ZERO, CMD_FLAG_NO_HOLE | CMD_FLAG_FUA}) {
                expect(c, 0, WRITE, 0, ones.length, ones, null);
                expect(c, flags, NbdCommand.WRITE_ZEROES.code(), 100, 60000, null, null);
                c.request(0, READ, 2, 0, ones.length, null);
                byte[] got = java.util.Arrays.copyOfRange(c.readReply(0).data(), 8, 8 + ones.length);
                byte[] want = ones.clone();
                java.util.Arrays.fill(want, 100, 60100, (byte) 0);
                assertThat(got).as("flags %d", flags).isEqualTo(want);
            }
            expect(c, 0, NbdCommand.TRIM.code(), 0, ones.length, null, null);
            expect(c, 0, NbdCommand.CACHE.code(), 0, ones.length, null, null);
        }
    }

    @Test
    void pipelinedRequestsAreAllAnsweredByCookie() throws Exception {
        try (RawNbdClient c = new RawNbdClient(port).open("disk", false)) {
            int n = 200;
            for (int i = 0; i < n; i++) {
                byte[] d = random(4096, i);
                c.request(0, WRITE, 1000 + i, i * 4096L, 4096, d);
            }
            Set<Long> cookies = new HashSet<>();
            for (int i = 0; i < n; i++) {
                Reply r = c.readReply(0);
                assertThat(r.error()).isZero();
                cookies.add(r.cookie());
            }
            assertThat(cookies).hasSize(n);
            for (int i = 0; i < n; i++) {
                c.request(0, READ, i, i * 4096L, 4096, null);
            }
            // replies may come in any order; each one's data must match its own cookie
            for (int i = 0; i < n; i++) {
                Reply r = c.readReply(4096);
                assertThat(r.data()).isEqualTo(random(4096, (int) r.cookie()));
            }
        }
    }

    @Test
    void discFinishesInFlightRequestsThenCloses() throws Exception {
        try (RawNbdClient c = new RawNbdClient(port).open("disk", false)) {
            byte[] d = random(1 << 20, 9);
            c.request(0, WRITE, 1, 0, d.length, d);
            c.request(0, NbdCommand.DISC.code(), 2, 0, 0, null);
            Reply r = c.readReply(0);
            assertThat(r.cookie()).isEqualTo(1);
            assertThat(r.error()).isZero();
            assertThat(c.closedByServer()).isTrue();
        }
        try (RawNbdClient c = new RawNbdClient(port).open("disk", false)) {
            c.request(0, READ, 3, 0, 1 << 20, null);
            assertThat(c.readReply(1 << 20).data()).isEqualTo(random(1 << 20, 9));
        }
    }

    private static void expect(RawNbdClient c, int flags, int type, long offset, long length, byte[] payload,
                               NbdError error) throws Exception {
        long cookie = System.nanoTime();
        c.request(flags, type, cookie, offset, length, payload);
        Reply r = c.readReply(type == READ && error == null ? (int) length : 0);
        assertThat(r.cookie()).isEqualTo(cookie);
        assertThat(r.error()).as("type %d flags %d offset %s length %d", type, flags, Long.toUnsignedString(offset),
                length).isEqualTo(error == null ? 0 : error.code());
    }
}
