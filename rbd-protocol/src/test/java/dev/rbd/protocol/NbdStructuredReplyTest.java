package dev.rbd.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(NettyLeakCheck.class)
class NbdStructuredReplyTest {
    private static ByteBuf hexBuf(String hex) {
        byte[] b = ByteBufUtil.decodeHexDump(hex);
        return ByteBufAllocator.DEFAULT.heapBuffer(b.length).writeBytes(b);
    }

    @Test
    void doneIsAnEmptyNoneChunkWithTheDoneFlag() {
        NbdStructuredReply r = NbdStructuredReply.done(0x8000000000000000L);
        assertThat(r.flags()).isEqualTo(NbdConstants.REPLY_FLAG_DONE);
        assertThat(r.isDone()).isTrue();
        assertThat(r.type()).isEqualTo(NbdConstants.REPLY_TYPE_NONE);
        assertThat(r.cookie()).isEqualTo(0x8000000000000000L);
        assertThat(r.content().isReadable()).isFalse();
        assertThat(r.isError()).isFalse();
        assertThat(r.errorCode()).isZero();
        assertThat(r.errorMessage()).isEmpty();
    }

    @Test
    void offsetDataKeepsTheOffsetApartFromTheData() {
        NbdStructuredReply r = NbdStructuredReply.offsetData(5, 0xffffffffffffff00L, hexBuf("a1a2a3"), true);
        try {
            assertThat(r.type()).isEqualTo(NbdConstants.REPLY_TYPE_OFFSET_DATA);
            assertThat(r.isDone()).isTrue();
            assertThat(r.cookie()).isEqualTo(5);
            assertThat(r.offset()).isEqualTo(0xffffffffffffff00L);
            assertThat(r.payloadHex()).isEqualTo("a1a2a3");
            assertThat(r.payloadLength()).isEqualTo(8 + 3);
            assertThat(r.isError()).isFalse();
            assertThat(r.errorCode()).isZero();
            assertThat(r.errorMessage()).isEmpty();
        } finally {
            r.release();
        }
    }

    @Test
    void offsetDataWithoutDoneHasNoFlags() {
        NbdStructuredReply r = NbdStructuredReply.offsetData(5, 0, hexBuf("00"), false);
        try {
            assertThat(r.flags()).isZero();
            assertThat(r.isDone()).isFalse();
        } finally {
            r.release();
        }
    }

    @Test
    void offsetDataDoesNotCopyTheData() {
        ByteBuf data = hexBuf("0000");
        NbdStructuredReply r = NbdStructuredReply.offsetData(1, 0, data, true);
        try {
            assertThat(r.content()).isSameAs(data);
            data.setByte(1, 0x7f);
            assertThat(r.payloadHex()).isEqualTo("007f");
        } finally {
            r.release();
        }
    }

    @Test
    void offsetDataTakesOwnershipOfTheData() {
        ByteBuf data = hexBuf("01020304");
        NbdStructuredReply r = NbdStructuredReply.offsetData(1, 0, data, true);
        assertThat(data.refCnt()).isEqualTo(1);
        assertThat(r.release()).isTrue();
        assertThat(data.refCnt()).isZero();
    }

    @Test
    void offsetDataRefusesEmptyDataAndReleasesIt() {
        // the spec's OFFSET_DATA carries at least one byte (length >= 9); an empty read is answered with NONE
        ByteBuf data = ByteBufAllocator.DEFAULT.heapBuffer(0);
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> NbdStructuredReply.offsetData(1, 0x10, data, true))
                .isInstanceOf(IllegalArgumentException.class);
        assertThat(data.refCnt()).isZero();
    }

    @Test
    void constructorRejectsOffsetDataSoTheOffsetCannotBeLost() {
        ByteBuf payload = hexBuf("0000000000000000" + "01");
        try {
            assertThatThrownBy(() -> new NbdStructuredReply(0, NbdConstants.REPLY_TYPE_OFFSET_DATA, 1, payload))
                    .isInstanceOf(IllegalArgumentException.class);
            // the type is masked to 16 bits before the check
            assertThatThrownBy(() -> new NbdStructuredReply(0, 0x10001, 1, payload))
                    .isInstanceOf(IllegalArgumentException.class);
        } finally {
            payload.release();
        }
    }

    @Test
    void nonOffsetDataChunksHaveOffsetZeroAndPayloadLengthOfTheirContent() {
        NbdStructuredReply r = new NbdStructuredReply(0, NbdConstants.REPLY_TYPE_OFFSET_HOLE, 1,
                hexBuf("0000000000001000" + "00000200"));
        try {
            assertThat(r.offset()).isZero();
            assertThat(r.payloadLength()).isEqualTo(12);
        } finally {
            r.release();
        }
    }

    @Test
    void errorLaysOutCodeLengthAndMessage() {
        NbdStructuredReply r = NbdStructuredReply.error(-1L, NbdError.EPERM, "denied");
        try {
            assertThat(r.type()).isEqualTo(NbdConstants.REPLY_TYPE_ERROR);
            assertThat(r.isDone()).isTrue();
            assertThat(r.isError()).isTrue();
            assertThat(r.cookie()).isEqualTo(-1L);
            assertThat(r.payloadHex()).isEqualTo(
                    "00000001"              // error: EPERM
                    + "0006"                // message length
                    + "64656e696564");      // "denied"
            assertThat(r.errorCode()).isEqualTo(NbdError.EPERM.code());
            assertThat(r.errorMessage()).isEqualTo("denied");
        } finally {
            r.release();
        }
    }

    @Test
    void errorWithNullMessageHasAnEmptyMessage() {
        NbdStructuredReply r = NbdStructuredReply.error(1, NbdError.EIO, null);
        try {
            assertThat(r.payloadHex()).isEqualTo("00000005" + "0000");
            assertThat(r.errorCode()).isEqualTo(5);
            assertThat(r.errorMessage()).isEmpty();
        } finally {
            r.release();
        }
    }

    @Test
    void errorEncodesTheMessageAsUtf8() {
        NbdStructuredReply r = NbdStructuredReply.error(1, NbdError.EINVAL, "\u00e9\u20ac");
        try {
            assertThat(r.payloadHex()).isEqualTo("00000016" + "0005" + "c3a9" + "e282ac");
            assertThat(r.errorMessage()).isEqualTo("\u00e9\u20ac");
        } finally {
            r.release();
        }
    }

    @Test
    void errorCutsALongMessageTo4096Bytes() {
        NbdStructuredReply r = NbdStructuredReply.error(1, NbdError.EIO, "x".repeat(5000));
        try {
            assertThat(r.content().readableBytes()).isEqualTo(6 + 4096);
            assertThat(r.content().getUnsignedShort(4)).isEqualTo(4096);
            assertThat(r.errorMessage()).isEqualTo("x".repeat(4096));
        } finally {
            r.release();
        }
    }

    @Test
    void errorKeepsAMessageOfExactly4096Bytes() {
        NbdStructuredReply r = NbdStructuredReply.error(1, NbdError.EIO, "y".repeat(4096));
        try {
            assertThat(r.errorMessage()).hasSize(4096);
        } finally {
            r.release();
        }
    }

    @Test
    void errorCutsALongMessageOnACharacterBoundary() {
        String message = "x".repeat(4095) + "\u00e9"; // 4097 UTF-8 bytes; the last character is 2 bytes
        NbdStructuredReply r = NbdStructuredReply.error(1, NbdError.EIO, message);
        try {
            int n = r.content().getUnsignedShort(4);
            assertThat(n).isLessThanOrEqualTo(4096);
            byte[] text = ByteBufUtil.getBytes(r.content(), 6, n);
            assertThat(isValidUtf8(text)).as("the %d message bytes are valid UTF-8", n).isTrue();
            assertThat(r.errorMessage()).isEqualTo("x".repeat(4095));
        } finally {
            r.release();
        }
    }

    private static boolean isValidUtf8(byte[] bytes) {
        try {
            StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes));
            return true;
        } catch (CharacterCodingException e) {
            return false;
        }
    }

    @Test
    void errorCodeAndMessageReadErrorOffsetChunksIgnoringTheTrailingOffset() {
        NbdStructuredReply r = new NbdStructuredReply(NbdConstants.REPLY_FLAG_DONE,
                NbdConstants.REPLY_TYPE_ERROR_OFFSET, 1, hexBuf(
                        "0000004b"              // error: EOVERFLOW
                        + "0002"                // message length
                        + "6869"                // "hi"
                        + "0000000000001000")); // offset of the error
        try {
            assertThat(r.isError()).isTrue();
            assertThat(r.errorCode()).isEqualTo(NbdError.EOVERFLOW.code());
            assertThat(r.errorMessage()).isEqualTo("hi");
        } finally {
            r.release();
        }
    }

    @Test
    void errorCodeAndMessageAreEmptyForAnErrorPayloadShorterThanSixBytes() {
        NbdStructuredReply r = new NbdStructuredReply(1, NbdConstants.REPLY_TYPE_ERROR, 1, hexBuf("0000000500"));
        try {
            assertThat(r.isError()).isTrue();
            assertThat(r.errorCode()).isZero();
            assertThat(r.errorMessage()).isEmpty();
        } finally {
            r.release();
        }
    }

    @Test
    void errorMessageIsEmptyWhenItsLengthRunsPastThePayload() {
        NbdStructuredReply r = new NbdStructuredReply(1, NbdConstants.REPLY_TYPE_ERROR, 1, hexBuf(
                "00000005"              // error: EIO
                + "0004"                // message length: 4
                + "616263"));           // only 3 bytes
        try {
            assertThat(r.errorCode()).isEqualTo(5);
            assertThat(r.errorMessage()).isEmpty();
        } finally {
            r.release();
        }
    }

    @Test
    void errorCodeAndMessageAreRelativeToTheReaderIndex() {
        ByteBuf payload = hexBuf("ffff" + "0000001c" + "0001" + "21");
        payload.skipBytes(2);
        NbdStructuredReply r = new NbdStructuredReply(1, NbdConstants.REPLY_TYPE_ERROR, 1, payload);
        try {
            assertThat(r.errorCode()).isEqualTo(NbdError.ENOSPC.code());
            assertThat(r.errorMessage()).isEqualTo("!");
            assertThat(r.content().readerIndex()).isEqualTo(2); // reading them consumed nothing
        } finally {
            r.release();
        }
    }

    @Test
    void errorCodeIsZeroForNonErrorChunksEvenWithErrorShapedPayload() {
        NbdStructuredReply r = new NbdStructuredReply(1, NbdConstants.REPLY_TYPE_BLOCK_STATUS, 1,
                hexBuf("00000005" + "0000"));
        try {
            assertThat(r.isError()).isFalse();
            assertThat(r.errorCode()).isZero();
            assertThat(r.errorMessage()).isEmpty();
        } finally {
            r.release();
        }
    }

    @Test
    void unknownTypeWithBit15SetIsAnError() {
        NbdStructuredReply r = new NbdStructuredReply(0, 0x8123, 1, Unpooled.EMPTY_BUFFER);
        assertThat(r.isError()).isTrue();
        assertThat(r.errorCode()).isZero();
        assertThat(r.errorMessage()).isEmpty();
    }

    @Test
    void masksFlagsAndTypeTo16Bits() {
        NbdStructuredReply r = new NbdStructuredReply(0x30001, -1, 0, Unpooled.EMPTY_BUFFER);
        assertThat(r.flags()).isEqualTo(1);
        assertThat(r.type()).isEqualTo(0xffff);
        assertThat(r.isDone()).isTrue();
    }

    @Test
    void replaceKeepsTheHeaderFields() {
        NbdStructuredReply r = NbdStructuredReply.done(9);
        NbdStructuredReply replaced = r.replace(hexBuf("01"));
        try {
            assertThat(replaced.flags()).isEqualTo(r.flags());
            assertThat(replaced.type()).isEqualTo(r.type());
            assertThat(replaced.cookie()).isEqualTo(9);
            assertThat(replaced.payloadHex()).isEqualTo("01");
        } finally {
            replaced.release();
        }
    }

    @Test
    void replaceKeepsTheOffsetOfOffsetData() {
        NbdStructuredReply r = NbdStructuredReply.offsetData(3, -8L, hexBuf("01"), false);
        NbdStructuredReply copy = (NbdStructuredReply) r.copy();
        try {
            assertThat(copy.offset()).isEqualTo(-8L);
            assertThat(copy.type()).isEqualTo(NbdConstants.REPLY_TYPE_OFFSET_DATA);
            assertThat(copy.isDone()).isFalse();
            assertThat(copy.cookie()).isEqualTo(3);
            assertThat(copy.content()).isNotSameAs(r.content());
            assertThat(copy.payloadHex()).isEqualTo("01");
        } finally {
            copy.release();
            r.release();
        }
    }

    @Test
    void retainSharesTheReferenceCountWithThePayload() {
        ByteBuf payload = hexBuf("01");
        NbdStructuredReply r = new NbdStructuredReply(0, NbdConstants.REPLY_TYPE_BLOCK_STATUS, 0, payload);
        assertThat(r.retain()).isSameAs(r);
        assertThat(payload.refCnt()).isEqualTo(2);
        r.release(2);
        assertThat(payload.refCnt()).isZero();
    }

    @Test
    void toStringShowsUnsignedCookieAndError() {
        NbdStructuredReply r = NbdStructuredReply.error(-1L, NbdError.EIO, "bad");
        try {
            assertThat(r.toString()).contains("type=0x8001", "cookie=18446744073709551615", "error=5 bad")
                    .doesNotContain("offset=");
        } finally {
            r.release();
        }
        NbdStructuredReply data = NbdStructuredReply.offsetData(1, -1L, hexBuf("00"), true);
        try {
            assertThat(data.toString()).contains("offset=18446744073709551615", "payload=9");
        } finally {
            data.release();
        }
    }
}
