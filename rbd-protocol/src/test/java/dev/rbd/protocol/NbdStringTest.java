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
}
