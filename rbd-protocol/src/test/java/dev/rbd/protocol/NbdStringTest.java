package dev.rbd.protocol;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class NbdStringTest {
    @Test
    void keepsShortStringsWhole() {
        assertThat(NbdString.encode("disk")).isEqualTo("disk".getBytes(StandardCharsets.UTF_8));
        assertThat(NbdString.encode(null)).isEmpty();
    }

    @Test
    void cutsLongStringsBeforeACharacterThatDoesNotFit() {
        assertThat(NbdString.encode("x".repeat(4095) + "\u00e9")).hasSize(4095);
        assertThat(NbdString.encode("x".repeat(4094) + "\u00e9" + "y")).hasSize(4096);
        // a surrogate pair (4 UTF-8 bytes) is never split
        byte[] b = NbdString.encode("x".repeat(4093) + "\uD83D\uDE00", 4096);
        assertThat(b).hasSize(4093);
        assertThat(new String(NbdString.encode("\u00e9\u00e9\u00e9", 5), StandardCharsets.UTF_8)).isEqualTo("\u00e9\u00e9");
    }

    @Test
    void printableEscapesWhatCouldForgeALineOrTurnTextAround() {
        assertThat(NbdString.printable("disk")).isSameAs("disk");
        assertThat(NbdString.printable("a\nb\rc\td")).isEqualTo("a\\nb\\rc\\td");
        assertThat(NbdString.printable("\u001b[31mred\u0000")).isEqualTo("\\u001b[31mred\\u0000");
        assertThat(NbdString.printable("x\u2028y\u202ez\u0085")).isEqualTo("x\\u2028y\\u202ez\\u0085");
        assertThat(NbdString.printable("C:\\dir \u00e9t\u00e9")).isEqualTo("C:\\dir \u00e9t\u00e9");
        assertThat(NbdString.printable(null)).isEmpty();
    }
}
