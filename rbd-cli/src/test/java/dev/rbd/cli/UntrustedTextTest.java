package dev.rbd.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rbd.client.ExportInfo;
import org.junit.jupiter.api.Test;

/** What a server says is shown escaped: a description cannot clear the terminal or forge an output line. */
class UntrustedTextTest {
    @Test
    void infoShowsAHostileDescriptionEscaped() {
        ExportInfo info = new ExportInfo("disk", "evil\u001b[2J\n\tis_read_only: true", 1 << 20, 1, 1, 4096, 1 << 20,
                true, false, false, false, false);
        String text = InfoCommand.toText("nbd://127.0.0.1/disk", info);
        assertThat(text).contains("\tdescription: evil\\u001b[2J\\n\\tis_read_only: true" + System.lineSeparator())
                .doesNotContain("\u001b");
        assertThat(text.lines().filter(l -> l.startsWith("\tis_read_only:"))).containsExactly("\tis_read_only: false");
    }
}
