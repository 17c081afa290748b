package dev.rbd.server.handshake;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rbd.protocol.NbdConstants;
import dev.rbd.protocol.NbdInfo;
import dev.rbd.protocol.NbdOption;
import dev.rbd.protocol.NbdReplyType;
import dev.rbd.server.RawNbdClient;
import dev.rbd.server.RawNbdClient.OptReply;
import dev.rbd.server.RbdServer;
import dev.rbd.server.TestServers;
import dev.rbd.server.export.Export;
import dev.rbd.server.export.ServerConfig;
import dev.rbd.server.store.MemoryBlockStore;
import java.io.ByteArrayInputStream;
import java.io.DataInputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class HandshakeTest {
    private RbdServer server;
    private int port;

    @BeforeEach
    void start() throws Exception {
        server = TestServers.start(TestServers.export("disk", new MemoryBlockStore(1 << 20), false),
                TestServers.export("usr", new MemoryBlockStore(2 << 20), true));
        port = server.port();
    }

    @AfterEach
    void stop() {
        server.close();
    }

    @Test
    void greetsWithFixedNewstyleAndNoZeroes() throws Exception {
        try (RawNbdClient c = new RawNbdClient(port).greet()) {
            assertThat(c.handshakeFlags).isEqualTo(NbdConstants.FLAG_FIXED_NEWSTYLE | NbdConstants.FLAG_NO_ZEROES);
        }
    }

    @Test
    void unknownOptionsGetErrUnsupAndNegotiationContinues() throws Exception {
        try (RawNbdClient c = new RawNbdClient(port).greet()) {
            for (int opt : new int[] {NbdOption.EXTENDED_HEADERS.code(), NbdOption.PEEK_EXPORT.code(),
                NbdOption.STARTTLS.code(), 0x4000_0000, 0xffff_ffff}) {
                List<OptReply> r = c.option(opt, new byte[] {1, 2, 3});
                assertThat(r).hasSize(1);
                assertThat(r.get(0).type()).isEqualTo(NbdReplyType.ERR_UNSUP.code());
                assertThat(r.get(0).option()).isEqualTo(opt);
            }
            assertThat(c.go("disk").type()).isEqualTo(NbdReplyType.ACK.code());
            assertThat(c.size).isEqualTo(1 << 20);
        }
    }

    @Test
    void listsEveryExportWithItsDescription() throws Exception {
        try (RawNbdClient c = new RawNbdClient(port).greet()) {
            List<OptReply> r = c.option(NbdOption.LIST.code(), new byte[0]);
            assertThat(r).hasSize(3);
            assertThat(r.get(2).type()).isEqualTo(NbdReplyType.ACK.code());
            assertThat(r.subList(0, 2)).allSatisfy(x -> assertThat(x.type()).isEqualTo(NbdReplyType.SERVER.code()));
            assertThat(serverEntryName(r.get(0))).isEqualTo("disk");
            assertThat(serverEntryName(r.get(1))).isEqualTo("usr");
            assertThat(r.get(1).text()).endsWith("usr for tests");
            // LIST with data is invalid, and negotiation goes on
            assertThat(c.option(NbdOption.LIST.code(), new byte[] {0}).get(0).type())
                    .isEqualTo(NbdReplyType.ERR_INVALID.code());
        }
    }

    private static String serverEntryName(OptReply r) throws Exception {
        DataInputStream d = new DataInputStream(new ByteArrayInputStream(r.data()));
        byte[] name = new byte[d.readInt()];
        d.readFully(name);
        return new String(name, StandardCharsets.UTF_8);
    }

    @Test
    void infoReportsExportNameDescriptionAndBlockSizeWithoutEnteringTransmission() throws Exception {
        try (RawNbdClient c = new RawNbdClient(port).greet()) {
            List<OptReply> r = c.option(NbdOption.INFO.code(), RawNbdClient.infoData("usr", NbdInfo.NAME.code(),
                    NbdInfo.DESCRIPTION.code(), NbdInfo.BLOCK_SIZE.code()));
            assertThat(r).extracting(OptReply::type).containsExactly(NbdReplyType.INFO.code(),
                    NbdReplyType.INFO.code(), NbdReplyType.INFO.code(), NbdReplyType.INFO.code(),
                    NbdReplyType.ACK.code());
            DataInputStream export = new DataInputStream(new ByteArrayInputStream(r.get(0).data()));
            assertThat(export.readUnsignedShort()).isEqualTo(NbdInfo.EXPORT.code());
            assertThat(export.readLong()).isEqualTo(2 << 20);
            int flags = export.readUnsignedShort();
            assertThat(flags & NbdConstants.FLAG_READ_ONLY).isNotZero();
            assertThat(flags & NbdConstants.FLAG_SEND_WRITE_ZEROES).isZero();
            assertThat(new String(r.get(1).data(), 2, r.get(1).data().length - 2, StandardCharsets.UTF_8))
                    .isEqualTo("usr");
            assertThat(new String(r.get(2).data(), 2, r.get(2).data().length - 2, StandardCharsets.UTF_8))
                    .isEqualTo("usr for tests");
            DataInputStream bs = new DataInputStream(new ByteArrayInputStream(r.get(3).data()));
            assertThat(bs.readUnsignedShort()).isEqualTo(NbdInfo.BLOCK_SIZE.code());
            assertThat(bs.readInt()).isEqualTo(1);
            assertThat(bs.readInt()).isEqualTo(4096);
            assertThat(bs.readInt()).isEqualTo(64 << 20);
            // still negotiating: GO works after INFO
            assertThat(c.go("disk").type()).isEqualTo(NbdReplyType.ACK.code());
        }
    }

    @Test
    void emptyNameIsTheDefaultExport() throws Exception {
        try (RawNbdClient c = new RawNbdClient(port).greet()) {
            assertThat(c.go("").type()).isEqualTo(NbdReplyType.ACK.code());
            assertThat(c.size).isEqualTo(1 << 20);
        }
    }

    @Test
    void unknownExportGetsErrUnknownAndMalformedInfoGetsErrInvalid() throws Exception {
        try (RawNbdClient c = new RawNbdClient(port).greet()) {
            OptReply r = c.go("nope");
            assertThat(r.type()).isEqualTo(NbdReplyType.ERR_UNKNOWN.code());
            assertThat(r.text()).contains("nope");
            byte[] bad = RawNbdClient.infoData("disk", 1, 2);
            bad[3] = 100; // name length beyond the data
            assertThat(c.option(NbdOption.GO.code(), bad).get(0).type()).isEqualTo(NbdReplyType.ERR_INVALID.code());
            byte[] shortData = {0, 0};
            assertThat(c.option(NbdOption.INFO.code(), shortData).get(0).type())
                    .isEqualTo(NbdReplyType.ERR_INVALID.code());
            assertThat(c.go("disk").type()).isEqualTo(NbdReplyType.ACK.code());
        }
    }

    @Test
    void structuredReplyTwiceIsInvalidAndEnablesDf() throws Exception {
        try (RawNbdClient c = new RawNbdClient(port).greet()) {
            assertThat(c.option(NbdOption.STRUCTURED_REPLY.code(), new byte[0]).get(0).type())
                    .isEqualTo(NbdReplyType.ACK.code());
            assertThat(c.option(NbdOption.STRUCTURED_REPLY.code(), new byte[0]).get(0).type())
                    .isEqualTo(NbdReplyType.ERR_INVALID.code());
            c.go("disk");
            assertThat(c.transmissionFlags & NbdConstants.FLAG_SEND_DF).isNotZero();
        }
        try (RawNbdClient c = new RawNbdClient(port).greet()) {
            c.go("disk");
            assertThat(c.transmissionFlags & NbdConstants.FLAG_SEND_DF).isZero();
        }
    }

    @Test
    void writableExportAdvertisesMultiConnAndWriteFeatures() throws Exception {
        try (RawNbdClient c = new RawNbdClient(port).greet()) {
            c.go("disk");
            int f = c.transmissionFlags;
            assertThat(f & NbdConstants.FLAG_READ_ONLY).isZero();
            for (int bit : new int[] {NbdConstants.FLAG_HAS_FLAGS, NbdConstants.FLAG_SEND_FLUSH,
                NbdConstants.FLAG_SEND_FUA, NbdConstants.FLAG_SEND_TRIM, NbdConstants.FLAG_SEND_WRITE_ZEROES,
                NbdConstants.FLAG_SEND_FAST_ZERO, NbdConstants.FLAG_CAN_MULTI_CONN, NbdConstants.FLAG_SEND_CACHE}) {
                assertThat(f & bit).as("flag 0x%x", bit).isNotZero();
            }
        }
    }

    @Test
    void exportNameEntersTransmissionWithAndWithoutZeroes() throws Exception {
        try (RawNbdClient c = new RawNbdClient(port).greet(NbdConstants.FLAG_C_FIXED_NEWSTYLE)) {
            c.sendOption(NbdOption.EXPORT_NAME.code(), "disk".getBytes(StandardCharsets.UTF_8));
            assertThat(c.in.readLong()).isEqualTo(1 << 20);
            assertThat(c.in.readUnsignedShort() & NbdConstants.FLAG_HAS_FLAGS).isNotZero();
            byte[] zeroes = new byte[124];
            c.in.readFully(zeroes);
            assertThat(zeroes).containsOnly(0);
            c.request(0, 0, 7, 0, 16, null);
            assertThat(c.readReply(16).error()).isZero();
        }
        try (RawNbdClient c = new RawNbdClient(port).greet()) {
            c.sendOption(NbdOption.EXPORT_NAME.code(), "disk".getBytes(StandardCharsets.UTF_8));
            assertThat(c.in.readLong()).isEqualTo(1 << 20);
            c.in.readUnsignedShort();
            c.request(0, 0, 8, 0, 16, null); // no zeroes in between
            RawNbdClient.Reply r = c.readReply(16);
            assertThat(r.cookie()).isEqualTo(8);
        }
    }

    @Test
    void exportNameForAnUnknownExportClosesTheConnection() throws Exception {
        try (RawNbdClient c = new RawNbdClient(port).greet()) {
            c.sendOption(NbdOption.EXPORT_NAME.code(), "nope".getBytes(StandardCharsets.UTF_8));
            assertThat(c.closedByServer()).isTrue();
        }
    }

    @Test
    void abortIsAcknowledgedThenClosed() throws Exception {
        try (RawNbdClient c = new RawNbdClient(port).greet()) {
            assertThat(c.option(NbdOption.ABORT.code(), new byte[0]).get(0).type())
                    .isEqualTo(NbdReplyType.ACK.code());
            assertThat(c.closedByServer()).isTrue();
        }
    }

    @Test
    void unknownClientFlagsCloseTheConnection() throws Exception {
        try (RawNbdClient c = new RawNbdClient(port).greet(0x10)) {
            assertThat(c.closedByServer()).isTrue();
        }
    }

    @Test
    void badOptionMagicOrAbsurdOptionLengthClosesOnlyThatConnection() throws Exception {
        try (RawNbdClient c = new RawNbdClient(port).greet()) {
            c.out.writeLong(0x1234_5678_9abc_def0L);
            c.out.writeInt(7);
            c.out.writeInt(0);
            c.out.flush();
            assertThat(c.closedByServer()).isTrue();
        }
        try (RawNbdClient c = new RawNbdClient(port).greet()) {
            c.out.writeLong(NbdConstants.IHAVEOPT);
            c.out.writeInt(NbdOption.GO.code());
            c.out.writeInt(0xffff_fff0); // ~4 GiB of option data: refused before anything is allocated
            c.out.flush();
            assertThat(c.closedByServer()).isTrue();
        }
        try (RawNbdClient c = new RawNbdClient(port).open("disk", true)) {
            c.request(0, 0, 1, 0, 8, null);
            assertThat(c.readReply(0).error()).isZero();
        }
    }

    @Test
    void clientThatNeverFinishesItsHandshakeIsDropped() throws Exception {
        RbdServer quick = TestServers.start(ServerConfig.defaults(List.of(new InetSocketAddress("127.0.0.1", 0)))
                .withHandshakeTimeout(Duration.ofMillis(300)), Export.builder("d", new MemoryBlockStore(4096)).build());
        try (RawNbdClient c = new RawNbdClient(quick.port()).greet()) {
            long t0 = System.nanoTime();
            assertThat(c.closedByServer()).isTrue();
            assertThat((System.nanoTime() - t0) / 1_000_000).isLessThan(5000);
        } finally {
            quick.close();
        }
    }
}
