package dev.rbd.protocol;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

/** The {@code fromCode} lookups of the wire enums, and their values against the NBD spec. */
class WireEnumsTest {
    @ParameterizedTest
    @EnumSource(NbdCommand.class)
    void commandFromCodeRoundTrips(NbdCommand c) {
        assertThat(NbdCommand.fromCode(c.code())).isSameAs(c);
    }

    @ParameterizedTest
    @ValueSource(ints = {-1, 8, 9, 0xffff, Integer.MAX_VALUE, Integer.MIN_VALUE})
    void commandFromCodeIsNullForUnknownValues(int code) {
        assertThat(NbdCommand.fromCode(code)).isNull();
    }

    @Test
    void commandCodesMatchTheSpec() {
        assertThat(NbdCommand.READ.code()).isZero();
        assertThat(NbdCommand.WRITE.code()).isEqualTo(1);
        assertThat(NbdCommand.DISC.code()).isEqualTo(2);
        assertThat(NbdCommand.FLUSH.code()).isEqualTo(3);
        assertThat(NbdCommand.TRIM.code()).isEqualTo(4);
        assertThat(NbdCommand.CACHE.code()).isEqualTo(5);
        assertThat(NbdCommand.WRITE_ZEROES.code()).isEqualTo(6);
        assertThat(NbdCommand.BLOCK_STATUS.code()).isEqualTo(7);
    }

    @ParameterizedTest
    @EnumSource(NbdError.class)
    void errorFromCodeRoundTrips(NbdError e) {
        assertThat(NbdError.fromCode(e.code())).isSameAs(e);
    }

    @ParameterizedTest
    @ValueSource(ints = {2, 4, 13, 107, 109, 1000, -1, Integer.MIN_VALUE})
    void unknownNonZeroErrorReadsAsEinval(int code) {
        assertThat(NbdError.fromCode(code)).isSameAs(NbdError.EINVAL);
    }

    @Test
    void errorCodesMatchTheSpec() {
        assertThat(NbdError.EPERM.code()).isEqualTo(1);
        assertThat(NbdError.EIO.code()).isEqualTo(5);
        assertThat(NbdError.ENOMEM.code()).isEqualTo(12);
        assertThat(NbdError.EINVAL.code()).isEqualTo(22);
        assertThat(NbdError.ENOSPC.code()).isEqualTo(28);
        assertThat(NbdError.EOVERFLOW.code()).isEqualTo(75);
        assertThat(NbdError.ENOTSUP.code()).isEqualTo(95);
        assertThat(NbdError.ESHUTDOWN.code()).isEqualTo(108);
    }

    @ParameterizedTest
    @EnumSource(NbdInfo.class)
    void infoFromCodeRoundTrips(NbdInfo i) {
        assertThat(NbdInfo.fromCode(i.code())).isSameAs(i);
    }

    @ParameterizedTest
    @ValueSource(ints = {-1, 4, 0xffff, Integer.MIN_VALUE})
    void infoFromCodeIsNullForUnknownValues(int code) {
        assertThat(NbdInfo.fromCode(code)).isNull();
    }

    @Test
    void infoCodesMatchTheSpec() {
        assertThat(NbdInfo.EXPORT.code()).isZero();
        assertThat(NbdInfo.NAME.code()).isEqualTo(1);
        assertThat(NbdInfo.DESCRIPTION.code()).isEqualTo(2);
        assertThat(NbdInfo.BLOCK_SIZE.code()).isEqualTo(3);
    }

    @ParameterizedTest
    @EnumSource(NbdOption.class)
    void optionFromCodeRoundTrips(NbdOption o) {
        assertThat(NbdOption.fromCode(o.code())).isSameAs(o);
        assertThat(NbdOption.describe(o.code())).isEqualTo(o.name());
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 12, -1, Integer.MIN_VALUE})
    void optionFromCodeIsNullForUnknownValues(int code) {
        assertThat(NbdOption.fromCode(code)).isNull();
    }

    @Test
    void describeShowsUnknownOptionsAsUnsigned() {
        assertThat(NbdOption.describe(0)).isEqualTo("option 0");
        assertThat(NbdOption.describe(-1)).isEqualTo("option 4294967295");
    }

    @Test
    void optionCodesMatchTheSpec() {
        assertThat(NbdOption.EXPORT_NAME.code()).isEqualTo(1);
        assertThat(NbdOption.ABORT.code()).isEqualTo(2);
        assertThat(NbdOption.LIST.code()).isEqualTo(3);
        assertThat(NbdOption.STARTTLS.code()).isEqualTo(5);
        assertThat(NbdOption.INFO.code()).isEqualTo(6);
        assertThat(NbdOption.GO.code()).isEqualTo(7);
        assertThat(NbdOption.STRUCTURED_REPLY.code()).isEqualTo(8);
        assertThat(NbdOption.LIST_META_CONTEXT.code()).isEqualTo(9);
        assertThat(NbdOption.SET_META_CONTEXT.code()).isEqualTo(10);
        assertThat(NbdOption.EXTENDED_HEADERS.code()).isEqualTo(11);
    }

    @ParameterizedTest
    @EnumSource(NbdReplyType.class)
    void replyTypeFromCodeRoundTrips(NbdReplyType t) {
        assertThat(NbdReplyType.fromCode(t.code())).isSameAs(t);
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 5, 0x80000000, 0x8000000b, -1})
    void replyTypeFromCodeIsNullForUnknownValues(int code) {
        assertThat(NbdReplyType.fromCode(code)).isNull();
    }

    @ParameterizedTest
    @EnumSource(NbdReplyType.class)
    void replyTypeIsAnErrorExactlyWhenBit31IsSet(NbdReplyType t) {
        assertThat(t.isError()).isEqualTo((t.code() & 0x80000000) != 0);
        assertThat(t.isError()).isEqualTo(t.name().startsWith("ERR_"));
    }

    @Test
    void replyTypeCodesMatchTheSpec() {
        assertThat(NbdReplyType.ACK.code()).isEqualTo(1);
        assertThat(NbdReplyType.SERVER.code()).isEqualTo(2);
        assertThat(NbdReplyType.INFO.code()).isEqualTo(3);
        assertThat(NbdReplyType.META_CONTEXT.code()).isEqualTo(4);
        assertThat(NbdReplyType.ERR_UNSUP.code()).isEqualTo(0x80000001);
        assertThat(NbdReplyType.ERR_TOO_BIG.code()).isEqualTo(0x80000009);
        assertThat(NbdReplyType.ERR_EXT_HEADER_REQD.code()).isEqualTo(0x8000000a);
    }

    @Test
    void errorChunkTypesHaveBit15Set() {
        assertThat(NbdConstants.isErrorChunk(NbdConstants.REPLY_TYPE_ERROR)).isTrue();
        assertThat(NbdConstants.isErrorChunk(NbdConstants.REPLY_TYPE_ERROR_OFFSET)).isTrue();
        assertThat(NbdConstants.isErrorChunk(0xffff)).isTrue();
        assertThat(NbdConstants.isErrorChunk(NbdConstants.REPLY_TYPE_NONE)).isFalse();
        assertThat(NbdConstants.isErrorChunk(NbdConstants.REPLY_TYPE_OFFSET_DATA)).isFalse();
        assertThat(NbdConstants.isErrorChunk(NbdConstants.REPLY_TYPE_OFFSET_HOLE)).isFalse();
        assertThat(NbdConstants.isErrorChunk(NbdConstants.REPLY_TYPE_BLOCK_STATUS)).isFalse();
        assertThat(NbdConstants.isErrorChunk(0x7fff)).isFalse();
    }

    @Test
    void magicsMatchTheSpec() {
        assertThat(NbdConstants.NBDMAGIC).isEqualTo(0x4e42444d41474943L); // "NBDMAGIC"
        assertThat(NbdConstants.IHAVEOPT).isEqualTo(0x49484156454F5054L); // "IHAVEOPT"
        assertThat(NbdConstants.OPTION_REPLY_MAGIC).isEqualTo(0x3e889045565a9L);
        assertThat(NbdConstants.REQUEST_MAGIC).isEqualTo(0x25609513);
        assertThat(NbdConstants.SIMPLE_REPLY_MAGIC).isEqualTo(0x67446698);
        assertThat(NbdConstants.STRUCTURED_REPLY_MAGIC).isEqualTo(0x668e33ef);
        assertThat(NbdConstants.PORTABLE_MAX_PAYLOAD).isEqualTo(1 << 25);
    }
}
