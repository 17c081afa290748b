package dev.rbd.protocol;

import static dev.rbd.protocol.PayloadHex.decodeHex;
import static dev.rbd.protocol.PayloadHex.encodeHex;
import static dev.rbd.protocol.PayloadHex.roundTrip;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** Structured reply chunk payloads: OFFSET_HOLE and the error payload, layouts, round trips, malformed input. */
@ExtendWith(NettyLeakCheck.class)
class ChunkPayloadsTest {
    @Test
    void offsetHoleIsOffsetThenSize() {
        assertThat(encodeHex(new OffsetHole(0xffffffffffff0000L, 0xffffffffL).encode())).isEqualTo(
                "ffffffffffff0000"  // offset (unsigned)
                + "ffffffff");      // hole size (unsigned)
    }

    @Test
    void offsetHoleRoundTripsUnsignedExtremes() {
        for (OffsetHole h : new OffsetHole[] {new OffsetHole(0, 1), new OffsetHole(-1L, 0xffffffffL),
                new OffsetHole(Long.MIN_VALUE, 0x80000000L)}) {
            assertThat(roundTrip(h.encode(), OffsetHole::decode)).isEqualTo(h);
        }
    }

    @Test
    void offsetHoleMustBeExactlyTwelveBytes() {
        assertThatThrownBy(() -> decodeHex("0000000000000000" + "000010", OffsetHole::decode))
                .isInstanceOf(NbdProtocolException.class).hasMessage("OFFSET_HOLE chunk of 11 bytes (expected: 12)");
        assertThatThrownBy(() -> decodeHex("0000000000000000" + "00001000" + "00", OffsetHole::decode))
                .isInstanceOf(NbdProtocolException.class).hasMessage("OFFSET_HOLE chunk of 13 bytes (expected: 12)");
        assertThatThrownBy(() -> decodeHex("", OffsetHole::decode))
                .hasMessage("OFFSET_HOLE chunk of 0 bytes (expected: 12)");
    }

    @Test
    void offsetHoleSizeOutsideAU32IsRefused() {
        assertThatThrownBy(() -> new OffsetHole(0, 0x1_0000_0000L)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new OffsetHole(0, -1)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void errorIsValueThenCountedMessage() {
        assertThat(encodeHex(new ErrorChunk(NbdError.ENOSPC, "full").encode())).isEqualTo(
                "0000001c"          // error: ENOSPC
                + "0004"            // message length
                + "66756c6c");      // "full"
    }

    @Test
    void errorRoundTripsUnknownValuesAndUtf8() {
        for (ErrorChunk e : new ErrorChunk[] {new ErrorChunk(NbdError.EIO, ""), new ErrorChunk(-1, "\u00e9\u20ac"),
                new ErrorChunk(0x7fff_0000, "m".repeat(4096))}) {
            assertThat(roundTrip(e.encode(), ErrorChunk::decode)).isEqualTo(e);
        }
        assertThat(new ErrorChunk(5, null).message()).isEmpty();
    }

    @Test
    void errorLeavesErrorOffsetsOffsetUnread() {
        ByteBuf b = Unpooled.wrappedBuffer(ByteBufUtil.decodeHexDump(
                "0000004b"          // error: EOVERFLOW
                + "0002"            // message length
                + "6869"            // "hi"
                + "0000000000001000")); // ERROR_OFFSET's offset
        try {
            assertThat(ErrorChunk.decode(b)).isEqualTo(new ErrorChunk(NbdError.EOVERFLOW, "hi"));
            assertThat(b.readableBytes()).isEqualTo(8);
            assertThat(b.readLong()).isEqualTo(0x1000);
        } finally {
            b.release();
        }
    }

    @Test
    void errorShorterThanSixBytesIsMalformed() {
        assertThatThrownBy(() -> decodeHex("0000000500", ErrorChunk::decode)).isInstanceOf(NbdProtocolException.class)
                .hasMessage("error chunk of 5 bytes (expected: >= 6)");
    }

    @Test
    void errorMessageLengthPastThePayloadDoesNotFit() {
        assertThatThrownBy(() -> decodeHex(
                "00000005"          // error: EIO
                + "ffff"            // message length 65535
                + "616263",         // only 3 bytes
                ErrorChunk::decode))
                .isInstanceOf(NbdProtocolException.class).hasMessage("error message length 65535 does not fit");
    }

    @Test
    void peekErrorReadsTheValueAloneWithoutConsuming() {
        ByteBuf b = Unpooled.wrappedBuffer(ByteBufUtil.decodeHexDump("ff" + "00000016" + "0009" + "61"));
        try {
            b.skipBytes(1);
            assertThat(ErrorChunk.peekError(b)).isEqualTo(NbdError.EINVAL.code());
            assertThat(b.readerIndex()).isEqualTo(1);
            b.writerIndex(6);
            assertThat(ErrorChunk.peekError(b)).isZero();
        } finally {
            b.release();
        }
    }
}
