package dev.rbd.server.export;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** {@code --config FILE}: [export NAME] sections with the command line's export options, one a line. */
class ConfigFileTest {
    @TempDir
    Path dir;

    private Path write(String text) throws IOException {
        return Files.writeString(dir.resolve("exports.conf"), text);
    }

    @Test
    void readsEveryOptionOfEveryExportInOrder() throws Exception {
        Path file = write("""
                # the room's images
                [export usr]
                path = /srv/usr,v2.img
                ro = true
                description = Shared /usr, release 2 # not a comment

                  [export root]\r
                path=/srv/root.img
                allow = 10.0.0.0/8
                allow = cn:host42
                ro = false
                [export rel]
                path = images/rel.img
                description =
                overlays = overlays/rel
                """);
        List<ExportSpec> specs = ConfigFile.read(file);
        assertThat(specs).extracting(ExportSpec::name).containsExactly("usr", "root", "rel");
        ExportSpec usr = specs.get(0);
        assertThat(usr.path()).isEqualTo(Path.of("/srv/usr,v2.img"));
        assertThat(usr.readOnly()).isTrue();
        assertThat(usr.description()).isEqualTo("Shared /usr, release 2 # not a comment");
        assertThat(usr.access()).isSameAs(AccessRules.OPEN);
        ExportSpec root = specs.get(1);
        assertThat(root.path()).isEqualTo(Path.of("/srv/root.img"));
        assertThat(root.readOnly()).isFalse();
        assertThat(root.description()).isNull();
        assertThat(root.access().rules()).containsExactly(AccessRules.parse("10.0.0.0/8"),
                new AccessRules.Cn("host42"));
        ExportSpec rel = specs.get(2);
        assertThat(rel.path()).as("relative to the file's directory").isEqualTo(dir.toAbsolutePath()
                .resolve("images/rel.img"));
        assertThat(rel.description()).isEmpty();
        assertThat(rel.overlayDir()).as("relative to the file's directory").isEqualTo(dir.toAbsolutePath()
                .resolve("overlays/rel"));
        assertThat(root.overlayDir()).isNull();
    }

    @Test
    void aFileOfCommentsHoldsNoExport() throws Exception {
        assertThat(ConfigFile.read(write("# nothing yet\n\n"))).isEmpty();
        assertThat(ConfigFile.read(write(""))).isEmpty();
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
        "path = /a                                      | 1 | 'path' before any [export NAME]",
        "[export x]\\npath /a                           | 2 | expected 'KEY = VALUE'",
        "[export x]\\npath = /a\\nro = yes               | 3 | export 'x': ro = yes (expected: true or false)",
        "[export x]\\npath = /a\\nro\\n                  | 3 | expected 'KEY = VALUE'",
        "[export x]\\npath = /a\\nro = true\\nro = true  | 4 | export 'x': ro is given twice",
        "[export x]\\npath = /a\\npath = /b              | 3 | export 'x': path is given twice",
        "[export x]\\npath =                            | 2 | no image path",
        "[export x]\\npath = /a\\noverlays = /srv/o\\nro = true | 1 | export 'x': ro and overlays=/srv/o exclude each other",
        "[export x]\\npath = /a\\ncolour = blue          | 3 | export 'x': unknown key 'colour' (known: path, allow, clients, description, overlays, ro)",
        "[export x]\\npath = /a\\noverlays = temp\\nro = true | 1 | export 'x': ro and overlays=temp exclude each other",
        "[export x]\\npath = /a\\nallow = localhost      | 3 | export 'x', allow=",
        "[export x]\\npath = /a\\nallow =                | 3 | allow= needs a rule",
        "[export x]\\npath = /a\\ndescription = a\\tb    | 3 | control character (\\t)",
        "[export x]\\n[export y]\\npath = /a             | 1 | export 'x' has no 'path = IMAGE'",
        "[export x]\\npath = /a\\n[export x]\\npath = /b | 3 | export 'x' is already named at line 1",
        "[export]                                       | 1 | expected '[export NAME]'",
        "[export ]                                      | 1 | needs a name",
        "[server]                                       | 1 | expected '[export NAME]', not '[server]'",
        "[export a/b]                                   | 1 | holds a '/'",
        "[export x\\u0007]                              | 1 | export name 'x\\u0007' holds",
    })
    void aBadLineIsNamedByFileAndNumber(String text, int line, String message) throws Exception {
        Path file = write(text.replace("\\n", "\n").replace("\\t", "\t").replace("\\u0007", "\u0007") + "\n");
        assertThatThrownBy(() -> ConfigFile.read(file)).as(text).isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith(file + ":" + line + ": ").hasMessageContaining(message);
    }

    @Test
    void aDescriptionOverTheBoundIsABadLine() throws Exception {
        Path file = write("[export x]\npath = /a\ndescription = " + "y".repeat(4097) + "\n");
        assertThatThrownBy(() -> ConfigFile.read(file)).hasMessage(file + ":3: export 'x': description= of 4097 "
                + "bytes (expected: <= 4096 bytes of UTF-8)");
    }

    @Test
    void aFileTooLargeOrNotUtf8IsRefusedWithoutReadingOn() throws Exception {
        Path big = write("#" + "x".repeat(ConfigFile.MAX_BYTES) + "\n");
        assertThatThrownBy(() -> ConfigFile.read(big)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage(big + ": larger than 1048576 bytes; not a config file?");
        Path binary = Files.write(dir.resolve("bin.conf"), new byte[] {'[', (byte) 0xff, (byte) 0xfe, ']'});
        assertThatThrownBy(() -> ConfigFile.read(binary)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage(binary + ": not UTF-8 text");
    }

    @Test
    void aFileThatCannotBeReadIsAnIoError() {
        Path missing = dir.resolve("missing.conf");
        assertThatThrownBy(() -> ConfigFile.read(missing)).isInstanceOf(IOException.class)
                .hasMessage(missing + ": no such file");
        assertThatThrownBy(() -> ConfigFile.read(dir)).isInstanceOf(IOException.class)
                .hasMessageStartingWith(dir + ": cannot be read");
    }
}
