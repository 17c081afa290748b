package dev.rbd.protocol;

import static dev.rbd.protocol.PayloadHex.decodeHex;
import static dev.rbd.protocol.PayloadHex.encodeHex;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** INFO and GO option data: the wire layout, round trips, and why malformed data is refused. */
@ExtendWith(NettyLeakCheck.class)
class InfoRequestTest {
    @Test
    void encodesNameThenCountedInfoTypes() {
        assertThat(encodeHex(InfoRequest.of("disk", NbdInfo.DESCRIPTION, NbdInfo.BLOCK_SIZE).encode())).isEqualTo(
                "00000004"          // name length
                + "6469736b"        // "disk"
                + "0002"            // two information requests
                + "0002"            // NBD_INFO_DESCRIPTION
                + "0003");          // NBD_INFO_BLOCK_SIZE
    }

    @Test
    void decodesTheSpecLayoutKeepingUnknownInfoTypes() {
        InfoRequest r = decodeHex(
                "00000002"          // name length
                + "c3a9"            // "é"
                + "0003"            // three information requests
                + "0001"            // NBD_INFO_NAME
                + "ffff"            // unknown: kept, the server ignores it
                + "0000",           // NBD_INFO_EXPORT
                InfoRequest::decode);
        assertThat(r.name()).isEqualTo("\u00e9");
        assertThat(r.infoTypes()).containsExactly(1, 0xffff, 0);
        assertThat(r.requests(NbdInfo.NAME)).isTrue();
        assertThat(r.requests(NbdInfo.DESCRIPTION)).isFalse();
    }

    @Test
    void roundTripsEmptyNameAndNoRequests() {
        InfoRequest r = new InfoRequest("", List.of());
        ByteBuf b = r.encode();
        try {
            assertThat(ByteBufUtil.hexDump(b)).isEqualTo("00000000" + "0000");
            assertThat(InfoRequest.decode(b)).isEqualTo(r);
            assertThat(b.isReadable()).isFalse();
        } finally {
            b.release();
        }
    }

    @Test
    void roundTripsANameOfExactly4096BytesAndEveryInfoType() {
        InfoRequest r = new InfoRequest("n".repeat(4096), List.of(0, 1, 2, 3, 0xffff));
        ByteBuf b = r.encode();
        try {
            assertThat(InfoRequest.decode(b)).isEqualTo(r);
        } finally {
            b.release();
        }
    }

    @Test
    void encodingCutsANameOver4096Bytes() {
        ByteBuf b = new InfoRequest("x".repeat(5000), List.of()).encode();
        try {
            assertThat(InfoRequest.decode(b).name()).isEqualTo("x".repeat(4096));
        } finally {
            b.release();
        }
    }

    @Test
    void dataShorterThanANameLengthAndCountIsTooShort() {
        assertThatThrownBy(() -> decodeHex("0000000000", InfoRequest::decode))
                .isInstanceOf(NbdProtocolException.class)
                .hasMessage("INFO or GO data too short: 5 bytes (expected: >= 6)");
    }

    @Test
    void nameLengthRunningIntoTheCountDoesNotFit() {
        assertThatThrownBy(() -> decodeHex(
                "00000003"          // name length 3
                + "6162"            // only 2 bytes
                + "0000",           // count
                InfoRequest::decode))
                .isInstanceOf(NbdProtocolException.class).hasMessage("export name length 3 does not fit");
    }

    @Test
    void nameLengthsNear2To32DoNotWrapAround() {
        // 0xfffffffe + 4 would wrap to 2 in 32-bit arithmetic
        assertThatThrownBy(() -> decodeHex("fffffffe" + "0000", InfoRequest::decode))
                .hasMessage("export name length 4294967294 does not fit");
        assertThatThrownBy(() -> decodeHex("80000000" + "0000", InfoRequest::decode))
                .hasMessage("export name length 2147483648 does not fit");
    }

    @Test
    void nameLongerThan4096BytesIsRefusedEvenWhenItFits() {
        String hex = "00001001" + "61".repeat(4097) + "0000";
        assertThatThrownBy(() -> decodeHex(hex, InfoRequest::decode))
                .hasMessage("export name length 4097 does not fit");
    }

    @Test
    void countMustMatchTheRestOfTheData() {
        assertThatThrownBy(() -> decodeHex(
                "00000000"          // empty name
                + "0002"            // two requests announced
                + "0001",           // one present
                InfoRequest::decode))
                .hasMessage("2 info requests do not match the option length");
        assertThatThrownBy(() -> decodeHex(
                "00000000"          // empty name
                + "0000"            // none announced
                + "0001",           // one trailing
                InfoRequest::decode))
                .hasMessage("0 info requests do not match the option length");
        assertThatThrownBy(() -> decodeHex(
                "00000000"          // empty name
                + "0001"            // one announced
                + "000100",         // an odd byte behind it
                InfoRequest::decode))
                .hasMessage("1 info requests do not match the option length");
        assertThatThrownBy(() -> decodeHex("00000000" + "ffff", InfoRequest::decode))
                .hasMessage("65535 info requests do not match the option length");
    }

    @Test
    void infoTypesOutsideAU16AreRefused() {
        assertThatThrownBy(() -> new InfoRequest("a", List.of(0x10000)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("65536");
        assertThatThrownBy(() -> new InfoRequest("a", List.of(-1)))
                .isInstanceOf(IllegalArgumentException.class);
    }
}
