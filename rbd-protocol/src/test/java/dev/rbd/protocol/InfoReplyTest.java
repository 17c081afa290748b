package dev.rbd.protocol;

import static dev.rbd.protocol.PayloadHex.decodeHex;
import static dev.rbd.protocol.PayloadHex.encodeHex;
import static dev.rbd.protocol.PayloadHex.roundTrip;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** The data of NBD_REP_INFO replies: each info's layout, round trips, unknown and malformed infos. */
@ExtendWith(NettyLeakCheck.class)
class InfoReplyTest {
    @Test
    void exportIsTypeSizeAndTransmissionFlags() {
        assertThat(encodeHex(new InfoReply.Export(0xfedcba9876543210L, 0x8d).encode())).isEqualTo(
                "0000"                  // NBD_INFO_EXPORT
                + "fedcba9876543210"    // size (unsigned)
                + "008d");              // transmission flags
    }

    @Test
    void blockSizeIsTypeAndThreeU32s() {
        assertThat(encodeHex(new InfoReply.BlockSize(1, 4096, -1).encode())).isEqualTo(
                "0003"                  // NBD_INFO_BLOCK_SIZE
                + "00000001"            // minimum
                + "00001000"            // preferred
                + "ffffffff");          // maximum: no fixed limit
    }

    @Test
    void nameAndDescriptionAreTypeThenTheString() {
        assertThat(encodeHex(new InfoReply.Name("d\u00e9").encode())).isEqualTo(
                "0001"                  // NBD_INFO_NAME
                + "64c3a9");            // "dé"
        assertThat(encodeHex(new InfoReply.Description(null).encode())).isEqualTo(
                "0002");                // NBD_INFO_DESCRIPTION, empty
    }

    @Test
    void everyKnownInfoRoundTrips() {
        for (InfoReply r : new InfoReply[] {new InfoReply.Export(-1L, 0xffff), new InfoReply.Export(0, 1),
                new InfoReply.Name("disk"), new InfoReply.Name(""), new InfoReply.Description("z".repeat(4096)),
                new InfoReply.BlockSize(512, 65536, 32 << 20), new InfoReply.BlockSize(-1, -1, -1)}) {
            assertThat(roundTrip(r.encode(), InfoReply::decode)).isEqualTo(r);
        }
    }

    @Test
    void anUnknownTypeIsReportedAsUnknownAndItsPayloadSkipped() {
        assertThat(decodeHex(
                "0004"                  // a type this side does not know
                + "0102030405",         // its payload
                InfoReply::decode)).isEqualTo(new InfoReply.Unknown(4));
        assertThat(roundTrip(new InfoReply.Unknown(0xffff).encode(), InfoReply::decode))
                .isEqualTo(new InfoReply.Unknown(0xffff));
    }

    @Test
    void dataWithoutATypeIsMalformed() {
        assertThatThrownBy(() -> decodeHex("00", InfoReply::decode)).isInstanceOf(NbdProtocolException.class)
                .hasMessage("INFO reply of 1 bytes (expected: >= 2)");
    }

    @Test
    void fixedLengthInfosMustHaveExactlyTheirLength() {
        assertThatThrownBy(() -> decodeHex(
                "0000"                  // NBD_INFO_EXPORT
                + "0000000000001000"    // size
                + "01",                 // half of the flags
                InfoReply::decode))
                .isInstanceOf(NbdProtocolException.class).hasMessage("EXPORT info of 11 bytes (expected: 12)");
        assertThatThrownBy(() -> decodeHex(
                "0000"                  // NBD_INFO_EXPORT
                + "0000000000001000"    // size
                + "0001"                // flags
                + "00",                 // one byte too many
                InfoReply::decode))
                .isInstanceOf(NbdProtocolException.class).hasMessage("EXPORT info of 13 bytes (expected: 12)");
        assertThatThrownBy(() -> decodeHex(
                "0003"                  // NBD_INFO_BLOCK_SIZE
                + "00000001"            // minimum
                + "00001000",           // preferred, and no maximum
                InfoReply::decode))
                .isInstanceOf(NbdProtocolException.class).hasMessage("BLOCK_SIZE info of 10 bytes (expected: 14)");
        assertThatThrownBy(() -> decodeHex("0003", InfoReply::decode))
                .hasMessage("BLOCK_SIZE info of 2 bytes (expected: 14)");
    }

    @Test
    void aStringInfoOver4096BytesIsMalformed() {
        assertThatThrownBy(() -> decodeHex("0002" + "61".repeat(4097), InfoReply::decode))
                .isInstanceOf(NbdProtocolException.class)
                .hasMessage("DESCRIPTION info string of 4097 bytes (expected: <= 4096)");
    }

    @Test
    void flagsAndTypesOutsideAU16AreRefused() {
        assertThatThrownBy(() -> new InfoReply.Export(1, 0x10000)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new InfoReply.Unknown(-1)).isInstanceOf(IllegalArgumentException.class);
    }
}
