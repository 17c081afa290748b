package dev.rbd.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class NbdUriTest {
    @Test
    void parsesTcpUris() {
        assertThat(NbdUri.parse("nbd://example.org/disk")).isEqualTo(new NbdUri("example.org", 10809, "disk", null));
        assertThat(NbdUri.parse("nbd://127.0.0.1:10900/usr")).isEqualTo(new NbdUri("127.0.0.1", 10900, "usr", null));
        assertThat(NbdUri.parse("nbd://[::1]:10900/a%20b")).isEqualTo(new NbdUri("::1", 10900, "a b", null));
        assertThat(NbdUri.parse("nbd://host").export()).isEmpty();
        assertThat(NbdUri.parse("nbd://host/").export()).isEmpty();
    }

    @Test
    void parsesUnixUris() {
        NbdUri u = NbdUri.parse("nbd+unix:///disk?socket=/run/rbd.sock");
        assertThat(u.isUnix()).isTrue();
        assertThat(u.socket()).isEqualTo(Path.of("/run/rbd.sock"));
        assertThat(u.export()).isEqualTo("disk");
    }

    @Test
    void rejectsWhatItCannotServe() {
        assertThatThrownBy(() -> NbdUri.parse("nbds://host/disk")).hasMessageContaining("TLS");
        assertThatThrownBy(() -> NbdUri.parse("http://host/disk")).hasMessageContaining("unsupported scheme");
        assertThatThrownBy(() -> NbdUri.parse("nbd+unix:///disk")).hasMessageContaining("socket=PATH");
        assertThatThrownBy(() -> NbdUri.parse("disk")).hasMessageContaining("malformed");
        assertThatThrownBy(() -> NbdUri.parse("nbd://ho st/x")).hasMessageContaining("malformed");
        assertThatThrownBy(() -> NbdUri.parse("nbd://host:notaport/x")).hasMessageContaining("malformed host or port");
        assertThatThrownBy(() -> NbdUri.parse("nbd:///x")).hasMessageContaining("has no host");
    }
}
