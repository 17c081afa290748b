package dev.rbd.protocol;

import static dev.rbd.protocol.PayloadHex.decodeHex;
import static dev.rbd.protocol.PayloadHex.encodeHex;
import static dev.rbd.protocol.PayloadHex.roundTrip;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** The data of NBD_REP_SERVER (one LIST entry): layout, round trips, names that do not fit. */
@ExtendWith(NettyLeakCheck.class)
class ListEntryTest {
    @Test
    void encodesNameLengthNameThenDescription() {
        assertThat(encodeHex(new ListEntry("a", "b c").encode())).isEqualTo(
                "00000001"          // name length
                + "61"              // "a"
                + "622063");        // description "b c": the rest of the data
    }

    @Test
    void decodesAnEntryWithoutDescription() {
        assertThat(decodeHex(
                "00000003"          // name length
                + "646973",         // "dis", and nothing after it
                ListEntry::decode)).isEqualTo(new ListEntry("dis", ""));
    }

    @Test
    void roundTripsUtf8AndEmptyAndLongestStrings() {
        for (ListEntry e : new ListEntry[] {new ListEntry("", ""), new ListEntry("\u00e9\u20ac", "d\u00e9"),
                new ListEntry("n".repeat(4096), "d".repeat(4096)), new ListEntry(null, null)}) {
            assertThat(roundTrip(e.encode(), ListEntry::decode)).isEqualTo(e);
        }
    }

    @Test
    void dataShorterThanANameLengthIsMalformed() {
        assertThatThrownBy(() -> decodeHex("000000", ListEntry::decode)).isInstanceOf(NbdProtocolException.class)
                .hasMessage("LIST entry of 3 bytes (expected: >= 4)");
    }

    @Test
    void aNameLengthPastTheDataDoesNotFit() {
        assertThatThrownBy(() -> decodeHex(
                "00000005"          // name length 5
                + "61626364",       // only 4 bytes
                ListEntry::decode))
                .isInstanceOf(NbdProtocolException.class).hasMessage("export name length 5 does not fit");
    }

    @Test
    void nameLengthsNear2To32DoNotWrapAround() {
        assertThatThrownBy(() -> decodeHex("ffffffff" + "61", ListEntry::decode))
                .hasMessage("export name length 4294967295 does not fit");
        assertThatThrownBy(() -> decodeHex("80000001" + "61", ListEntry::decode))
                .hasMessage("export name length 2147483649 does not fit");
    }

    @Test
    void aNameOver4096BytesIsMalformedEvenWhenItFits() {
        assertThatThrownBy(() -> decodeHex("00001001" + "61".repeat(4097), ListEntry::decode))
                .hasMessage("export name length 4097 does not fit");
    }
}
