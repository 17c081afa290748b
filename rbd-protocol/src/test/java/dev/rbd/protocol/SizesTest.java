package dev.rbd.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The size grammar both tools read: units, case, overflow, bad input, and format's round trip. */
class SizesTest {
    @Test
    void readsEverySpellingEitherToolAccepted() {
        assertThat(Sizes.parse("4096")).isEqualTo(4096);
        assertThat(Sizes.parse("4k")).isEqualTo(4096);
        assertThat(Sizes.parse("4K")).isEqualTo(4096);
        assertThat(Sizes.parse("4KiB")).isEqualTo(4096);
        assertThat(Sizes.parse("4kb")).isEqualTo(4096);
        assertThat(Sizes.parse("4096b")).isEqualTo(4096);
        assertThat(Sizes.parse(" 512M ")).isEqualTo(512L << 20);
        assertThat(Sizes.parse("2G")).isEqualTo(2L << 30);
        assertThat(Sizes.parse("1TiB")).isEqualTo(1L << 40);
        assertThat(Sizes.parse("1P")).isEqualTo(1L << 50);
        assertThat(Sizes.parse("7E")).isEqualTo(7L << 60);
        assertThat(Sizes.parse("0")).isZero();
        assertThat(Sizes.parse(Long.toString(Long.MAX_VALUE))).isEqualTo(Long.MAX_VALUE);
        assertThat(Sizes.parse("8388607T")).isEqualTo(8388607L << 40);
    }

    @ParameterizedTest
    @ValueSource(strings = {"", " ", "k", "b", "kib", "4x", "4kk", "1.5G", "-1", "+4k", "4 k", "0x10", "four"})
    void refusesWhatIsNotASize(String text) {
        assertThatThrownBy(() -> Sizes.parse(text)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("not a size: '" + text + "' (expected e.g. 4096, 4k, 1M, 2G)");
    }

    @ParameterizedTest
    @ValueSource(strings = {"8E", "99999999E", "8388608T", "9223372036854775808", "99999999999999999999k"})
    void refusesSizesThatOverflowALong(String text) {
        assertThatThrownBy(() -> Sizes.parse(text)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("size out of range: '" + text + "' (expected: less than 8E)");
    }

    @Test
    void formatsTheShortestExactForm() {
        assertThat(Sizes.format(0)).isEqualTo("0");
        assertThat(Sizes.format(1000)).isEqualTo("1000");
        assertThat(Sizes.format(4096)).isEqualTo("4k");
        assertThat(Sizes.format(6144)).isEqualTo("6k");
        assertThat(Sizes.format(1L << 20)).isEqualTo("1M");
        assertThat(Sizes.format(3L << 30)).isEqualTo("3G");
        assertThat(Sizes.format(1L << 40)).isEqualTo("1T");
        assertThat(Sizes.format(1L << 50)).isEqualTo("1P");
        assertThat(Sizes.format(7L << 60)).isEqualTo("7E");
        assertThat(Sizes.format(Long.MAX_VALUE)).isEqualTo(Long.toString(Long.MAX_VALUE));
    }

    @ParameterizedTest
    @ValueSource(longs = {0, 1, 512, 4096, 4097, 1L << 20, 5L << 30, 8388607L << 40, 1L << 62, Long.MAX_VALUE})
    void formatReadsBack(long bytes) {
        assertThat(Sizes.parse(Sizes.format(bytes))).isEqualTo(bytes);
    }

    @Test
    void humanRoundsToBinaryUnitsWithOneDecimalBelowTen() {
        assertThat(Sizes.human(0)).isEqualTo("0 B");
        assertThat(Sizes.human(1023)).isEqualTo("1023 B");
        assertThat(Sizes.human(4096)).isEqualTo("4.0 KiB");
        assertThat(Sizes.human(9 * 1024 * 1024 + 512 * 1024)).isEqualTo("9.5 MiB");
        assertThat(Sizes.human(512L << 20)).isEqualTo("512 MiB");
        assertThat(Sizes.human(3L << 50)).isEqualTo("3.0 PiB");
        assertThat(Sizes.human(Long.MAX_VALUE)).isEqualTo("8192 PiB");
    }
}
