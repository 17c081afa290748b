package dev.rbd.server.handshake;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rbd.protocol.NbdInfo;
import dev.rbd.protocol.NbdOption;
import dev.rbd.protocol.NbdReplyType;
import dev.rbd.server.RawNbdClient;
import dev.rbd.server.RawNbdClient.OptReply;
import dev.rbd.server.RbdServer;
import dev.rbd.server.TestServers;
import dev.rbd.server.store.MemoryBlockStore;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** INFO and GO data as the server reads it: why malformed data is invalid, and which infos it answers. */
class InfoOptionDataTest {
    private RbdServer server;

    @BeforeEach
    void start() throws Exception {
        server = TestServers.start(TestServers.export("disk", new MemoryBlockStore(1 << 20), false));
    }

    @AfterEach
    void stop() {
        server.close();
    }

    @Test
    void malformedDataIsInvalidWithTheReasonAndNegotiationGoesOn() throws Exception {
        try (RawNbdClient c = new RawNbdClient(server.port()).greet()) {
            assertInvalid(c, new byte[] {0, 0, 0, 0, 0}, "INFO or GO data too short: 5 bytes (expected: >= 6)");
            assertInvalid(c, new byte[] {0, 0, 0, 3, 'a', 'b', 0, 0}, "export name length 3 does not fit");
            // a name length near 2^32 must not wrap around into one that fits
            assertInvalid(c, new byte[] {(byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xfe, 0, 0},
                    "export name length 4294967294 does not fit");
            assertInvalid(c, new byte[] {0, 0, 0, 0, 0, 2, 0, 1}, "2 info requests do not match the option length");
            assertThat(c.go("disk").type()).isEqualTo(NbdReplyType.ACK.code());
        }
    }

    @Test
    void unknownInfoTypesAreIgnoredAndKnownOnesAnswered() throws Exception {
        try (RawNbdClient c = new RawNbdClient(server.port()).greet()) {
            List<OptReply> r = c.option(NbdOption.INFO.code(),
                    RawNbdClient.infoData("disk", 0xfff0, NbdInfo.NAME.code(), 0xffff));
            assertThat(r.get(r.size() - 1).type()).isEqualTo(NbdReplyType.ACK.code());
            assertThat(r.subList(0, r.size() - 1)).allSatisfy(x -> assertThat(x.type())
                    .isEqualTo(NbdReplyType.INFO.code()));
            // EXPORT, the NAME asked for, BLOCK_SIZE: nothing for the unknown types
            assertThat(r.subList(0, r.size() - 1)).extracting(x -> (x.data()[0] & 0xff) << 8 | x.data()[1] & 0xff)
                    .containsExactly(NbdInfo.EXPORT.code(), NbdInfo.NAME.code(), NbdInfo.BLOCK_SIZE.code());
            assertThat(r.get(1).text().substring(2)).isEqualTo("disk");
        }
    }

    private static void assertInvalid(RawNbdClient c, byte[] data, String message) throws Exception {
        for (NbdOption option : new NbdOption[] {NbdOption.INFO, NbdOption.GO}) {
            List<OptReply> r = c.option(option.code(), data);
            assertThat(r).hasSize(1);
            assertThat(r.get(0).type()).isEqualTo(NbdReplyType.ERR_INVALID.code());
            assertThat(r.get(0).text()).isEqualTo(message);
        }
    }
}
