package dev.rbd.protocol;

import static dev.rbd.protocol.PayloadHex.encodeHex;
import static dev.rbd.protocol.PayloadHex.roundTrip;
import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** Strings that are a whole payload (EXPORT_NAME data, error reply messages): bytes and round trips. */
@ExtendWith(NettyLeakCheck.class)
class NbdStringBufferTest {
    @Test
    void aBufferIsTheBareUtf8Bytes() {
        assertThat(encodeHex(NbdString.buffer("d\u00e9"))).isEqualTo("64c3a9");
        assertThat(encodeHex(NbdString.buffer(null))).isEmpty();
    }

    @Test
    void roundTripsAndCutsAt4096Bytes() {
        assertThat(roundTrip(NbdString.buffer("\u20ac disk"), NbdString::decode)).isEqualTo("\u20ac disk");
        assertThat(roundTrip(NbdString.buffer("x".repeat(5000)), NbdString::decode)).isEqualTo("x".repeat(4096));
    }

    @Test
    void optionErrorRepliesCarryTheMessageAsTheirWholeData() {
        OptionReply r = OptionReply.error(NbdOption.GO.code(), NbdReplyType.ERR_UNKNOWN, "unknown export 'a'");
        try {
            assertThat(NbdString.decode(r.content().duplicate())).isEqualTo("unknown export 'a'");
        } finally {
            r.release();
        }
    }
}
