package dev.rbd.server.handshake;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rbd.protocol.NbdCommand;
import dev.rbd.protocol.NbdError;
import dev.rbd.protocol.NbdOption;
import dev.rbd.protocol.NbdReplyType;
import dev.rbd.server.MetaContexts;
import dev.rbd.server.RawNbdClient;
import dev.rbd.server.RawNbdClient.OptReply;
import dev.rbd.server.RbdServer;
import dev.rbd.server.TestServers;
import dev.rbd.server.store.MemoryBlockStore;
import java.nio.ByteBuffer;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** LIST_META_CONTEXT and SET_META_CONTEXT: the spec's rules for queries, exports and structured replies. */
class MetaContextTest {
    private static final int LIST = NbdOption.LIST_META_CONTEXT.code();
    private static final int SET = NbdOption.SET_META_CONTEXT.code();
    private static final String BASE = "1 base:allocation";

    private RbdServer server;
    private int port;

    @BeforeEach
    void start() throws Exception {
        server = TestServers.start(TestServers.export("disk", new MemoryBlockStore(1 << 20), false),
                TestServers.export("usr", new MemoryBlockStore(1 << 20), true));
        port = server.port();
    }

    @AfterEach
    void stop() {
        server.close();
    }

    private RawNbdClient structured() throws Exception {
        return new RawNbdClient(port).greet().structuredReplies();
    }

    private static int error(List<OptReply> replies) {
        assertThat(replies).hasSize(1);
        return replies.get(0).type();
    }

    @Test
    void withoutStructuredRepliesBothAreInvalidAndNegotiationGoesOn() throws Exception {
        try (RawNbdClient c = new RawNbdClient(port).greet()) {
            assertThat(error(c.option(LIST, MetaContexts.data("disk")))).isEqualTo(NbdReplyType.ERR_INVALID.code());
            assertThat(error(c.option(SET, MetaContexts.data("disk", "base:allocation"))))
                    .isEqualTo(NbdReplyType.ERR_INVALID.code());
            assertThat(c.go("disk").type()).isEqualTo(NbdReplyType.ACK.code());
        }
    }

    @Test
    void listAnswersBaseAllocationForExactNameWildcardAndEmptyQuery() throws Exception {
        try (RawNbdClient c = structured()) {
            assertThat(MetaContexts.contexts(c.option(LIST, MetaContexts.data("disk")))).containsExactly(BASE);
            assertThat(MetaContexts.contexts(c.option(LIST, MetaContexts.data("disk", "base:")))).containsExactly(BASE);
            assertThat(MetaContexts.contexts(c.option(LIST, MetaContexts.data("usr", "base:allocation"))))
                    .containsExactly(BASE);
            // unknown namespaces and contexts are ignored, not errors; a context named twice is listed once
            assertThat(MetaContexts.contexts(c.option(LIST, MetaContexts.data("disk", "qemu:dirty-bitmap:x",
                    "base:nothing", "x:", "base:allocation", "base:allocation")))).containsExactly(BASE);
            assertThat(MetaContexts.contexts(c.option(LIST, MetaContexts.data("disk", "qemu:")))).isEmpty();
        }
    }

    @Test
    void setSelectsBaseAllocationButNotByWildcard() throws Exception {
        try (RawNbdClient c = structured()) {
            assertThat(MetaContexts.contexts(c.option(SET, MetaContexts.data("disk", "base:")))).isEmpty();
            assertThat(MetaContexts.contexts(c.option(SET, MetaContexts.data("disk")))).isEmpty();
            assertThat(MetaContexts.contexts(c.option(SET, MetaContexts.data("disk", "qemu:allocation-depth",
                    "base:allocation")))).containsExactly(BASE);
            assertThat(c.go("disk").type()).isEqualTo(NbdReplyType.ACK.code());
            c.request(0, NbdCommand.BLOCK_STATUS.code(), 1, 0, 4096, null);
            RawNbdClient.Reply r = c.readReply(0);
            assertThat(r.type()).isEqualTo(5);
            assertThat(MetaContexts.chunk(r.data()).id()).isEqualTo(1);
        }
    }

    @Test
    void aLaterSetReplacesTheSelection() throws Exception {
        try (RawNbdClient c = structured()) {
            MetaContexts.contexts(c.option(SET, MetaContexts.data("disk", "base:allocation")));
            assertThat(MetaContexts.contexts(c.option(SET, MetaContexts.data("disk", "other:context")))).isEmpty();
            assertThat(c.go("disk").type()).isEqualTo(NbdReplyType.ACK.code());
            c.request(0, NbdCommand.BLOCK_STATUS.code(), 1, 0, 4096, null);
            assertThat(c.readReply(0).error()).isEqualTo(NbdError.EINVAL.code());
        }
    }

    @Test
    void setForAnotherExportThanGoSelectsNothing() throws Exception {
        try (RawNbdClient c = MetaContexts.open(port, "usr", "disk", "base:allocation")) {
            c.request(0, NbdCommand.BLOCK_STATUS.code(), 1, 0, 4096, null);
            RawNbdClient.Reply r = c.readReply(0);
            assertThat(r.error()).isEqualTo(NbdError.EINVAL.code());
            assertThat(r.flags() & 1).as("DONE").isEqualTo(1);
        }
    }

    @Test
    void unknownExportIsErrUnknown() throws Exception {
        try (RawNbdClient c = structured()) {
            List<OptReply> r = c.option(SET, MetaContexts.data("nope\u0007", "base:allocation"));
            assertThat(error(r)).isEqualTo(NbdReplyType.ERR_UNKNOWN.code());
            assertThat(r.get(0).text()).doesNotContain("\u0007");
            assertThat(error(c.option(LIST, MetaContexts.data("nope")))).isEqualTo(NbdReplyType.ERR_UNKNOWN.code());
            assertThat(c.go("disk").type()).isEqualTo(NbdReplyType.ACK.code());
        }
    }

    @Test
    void hostileLengthsAreRefusedBeforeAnythingIsRead() throws Exception {
        try (RawNbdClient c = structured()) {
            // an export name length far past the data
            byte[] longName = ByteBuffer.allocate(8).putInt(0x7fff_ffff).putInt(0).array();
            assertThat(error(c.option(SET, longName))).isEqualTo(NbdReplyType.ERR_TOO_BIG.code());
            byte[] pastData = ByteBuffer.allocate(10).putInt(100).putInt(0).putShort((short) 0).array();
            assertThat(error(c.option(LIST, pastData))).isEqualTo(NbdReplyType.ERR_INVALID.code());
            // a query count in the billions, and a query length past the data
            byte[] manyQueries = ByteBuffer.allocate(12).putInt(0).putInt(0xffff_ffff).putInt(0).array();
            List<OptReply> r = c.option(LIST, manyQueries);
            assertThat(error(r)).isEqualTo(NbdReplyType.ERR_TOO_BIG.code());
            assertThat(r.get(0).text()).contains("queries: 4294967295");
            byte[] shortQuery = ByteBuffer.allocate(14).putInt(0).putInt(1).putInt(1000).putShort((short) 0).array();
            assertThat(error(c.option(SET, shortQuery))).isEqualTo(NbdReplyType.ERR_INVALID.code());
            // too short for a count, and bytes after the last query
            assertThat(error(c.option(SET, new byte[] {0, 0, 0, 0, 0}))).isEqualTo(NbdReplyType.ERR_INVALID.code());
            byte[] trailing = ByteBuffer.allocate(9).putInt(0).putInt(0).put((byte) 1).array();
            assertThat(error(c.option(LIST, trailing))).isEqualTo(NbdReplyType.ERR_INVALID.code());
            assertThat(error(c.option(LIST, new byte[0]))).isEqualTo(NbdReplyType.ERR_INVALID.code());
            // just at the cap is fine
            String[] queries = new String[MetaContextOption.MAX_QUERIES];
            java.util.Arrays.fill(queries, "base:allocation");
            assertThat(MetaContexts.contexts(c.option(LIST, MetaContexts.data("disk", queries)))).containsExactly(BASE);
            String[] tooMany = new String[MetaContextOption.MAX_QUERIES + 1];
            java.util.Arrays.fill(tooMany, "x:y");
            assertThat(error(c.option(LIST, MetaContexts.data("disk", tooMany))))
                    .isEqualTo(NbdReplyType.ERR_TOO_BIG.code());
            // and the connection is still good
            assertThat(c.go("disk").type()).isEqualTo(NbdReplyType.ACK.code());
        }
    }

    @Test
    void aFailedSetForgetsTheEarlierSelection() throws Exception {
        try (RawNbdClient c = structured()) {
            MetaContexts.contexts(c.option(SET, MetaContexts.data("disk", "base:allocation")));
            assertThat(error(c.option(SET, MetaContexts.data("nope", "base:allocation"))))
                    .isEqualTo(NbdReplyType.ERR_UNKNOWN.code());
            assertThat(c.go("disk").type()).isEqualTo(NbdReplyType.ACK.code());
            c.request(0, NbdCommand.BLOCK_STATUS.code(), 1, 0, 4096, null);
            assertThat(c.readReply(0).error()).isEqualTo(NbdError.EINVAL.code());
        }
    }
}
