package dev.rbd.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

class NbdUriTest {
    @Test
    void parsesTcpUris() {
        assertThat(NbdUri.parse("nbd://example.org/disk")).isEqualTo(new NbdUri("example.org", 10809, "disk", null));
        assertThat(NbdUri.parse("nbd://127.0.0.1:10900/usr")).isEqualTo(new NbdUri("127.0.0.1", 10900, "usr", null));
        assertThat(NbdUri.parse("nbd://[::1]:10900/a%20b")).isEqualTo(new NbdUri("::1", 10900, "a b", null));
        assertThat(NbdUri.parse("nbd://host").export()).isEmpty();
        assertThat(NbdUri.parse("nbd://host/").export()).isEmpty();
        assertThat(NbdUri.parse("nbd://host/disk").isTls()).isFalse();
    }

    @Test
    void parsesUnixUris() {
        NbdUri u = NbdUri.parse("nbd+unix:///disk?socket=/run/rbd.sock");
        assertThat(u.isUnix()).isTrue();
        assertThat(u.socket()).isEqualTo(Path.of("/run/rbd.sock"));
        assertThat(u.export()).isEqualTo("disk");
        assertThat(u.isTls()).isFalse();
    }

    @Test
    void parsesTlsUrisWithLibnbdsQueryParameters() {
        assertThat(NbdUri.parse("nbds://example.org/disk"))
                .isEqualTo(new NbdUri("example.org", 10809, "disk", null, TlsSettings.defaults()));
        assertThat(NbdUri.parse("nbds://127.0.0.1:10900/usr?tls-certificates=/etc/pki/rbd"))
                .isEqualTo(new NbdUri("127.0.0.1", 10900, "usr", null, TlsSettings.of(Path.of("/etc/pki/rbd"))));
        assertThat(NbdUri.parse("nbds://h/d?tls-verify-peer=false").tls())
                .isEqualTo(new TlsSettings(null, false, null));
        assertThat(NbdUri.parse("nbds://h/d?tls-verify-peer=true&tls-hostname=disk.example").tls())
                .isEqualTo(new TlsSettings(null, true, "disk.example"));
        NbdUri unix = NbdUri.parse("nbds+unix:///disk?socket=/run/rbd.sock&tls-certificates=certs");
        assertThat(unix.isUnix()).isTrue();
        assertThat(unix.socket()).isEqualTo(Path.of("/run/rbd.sock"));
        assertThat(unix.tls()).isEqualTo(TlsSettings.of(Path.of("certs")));
    }

    @Test
    void ignoresQueryParametersItDoesNotKnowAsLibnbdDoes() {
        assertThat(NbdUri.parse("nbds://h/d?x-experiment=1&tls-certificates=c&other"))
                .isEqualTo(NbdUri.parse("nbds://h/d?tls-certificates=c"));
        // the TLS parameters say nothing to a plaintext URI
        assertThat(NbdUri.parse("nbd://h/d?tls-certificates=c").isTls()).isFalse();
    }

    @Test
    void toStringRoundTrips() {
        for (String text : List.of("nbd://example.org:10809/disk", "nbd://[::1]:10900/a%20b",
                "nbd+unix:///disk?socket=/run/rbd.sock", "nbds://127.0.0.1:10900/usr",
                "nbds://h:1/d?tls-certificates=/etc/pki/my%20certs&tls-verify-peer=false&tls-hostname=disk.example",
                "nbds+unix:///?socket=/tmp/s%26t.sock&tls-certificates=certs&tls-hostname=server.example",
                "nbds://h:1/a%2Bb%26c%3Fd%23e?tls-verify-peer=false")) {
            NbdUri u = NbdUri.parse(text);
            assertThat(u.toString()).as(text).isEqualTo(text);
            assertThat(NbdUri.parse(u.toString())).as(text).isEqualTo(u);
        }
        NbdUri odd = new NbdUri("h", 1, "ü &+?#%", null, new TlsSettings(Path.of("a b&c=d"), false, "n"));
        assertThat(NbdUri.parse(odd.toString())).isEqualTo(odd);
    }

    @Test
    void rejectsBadTlsQueryValues() {
        assertThatThrownBy(() -> NbdUri.parse("nbds://h/d?tls-verify-peer=maybe"))
                .hasMessageContaining("tls-verify-peer=maybe (expected: true or false)");
        assertThatThrownBy(() -> NbdUri.parse("nbds://h/d?tls-certificates="))
                .hasMessageContaining("tls-certificates= is empty");
        assertThatThrownBy(() -> NbdUri.parse("nbds://h/d?tls-hostname="))
                .hasMessageContaining("tls-hostname= is empty");
        assertThatThrownBy(() -> NbdUri.parse("nbds+unix:///d?tls-certificates=c"))
                .hasMessageContaining("socket=PATH");
        assertThatThrownBy(() -> NbdUri.parse("nbds:///d")).hasMessageContaining("has no host");
    }

    @Test
    void rejectsWhatItCannotServe() {
        assertThatThrownBy(() -> NbdUri.parse("http://host/disk")).hasMessageContaining("unsupported scheme");
        assertThatThrownBy(() -> NbdUri.parse("nbd+vsock:///disk")).hasMessageContaining("unsupported scheme");
        assertThatThrownBy(() -> NbdUri.parse("nbd+unix:///disk")).hasMessageContaining("socket=PATH");
        assertThatThrownBy(() -> NbdUri.parse("disk")).hasMessageContaining("malformed");
        assertThatThrownBy(() -> NbdUri.parse("nbd://ho st/x")).hasMessageContaining("malformed");
        assertThatThrownBy(() -> NbdUri.parse("nbd://host:notaport/x")).hasMessageContaining("malformed host or port");
        assertThatThrownBy(() -> NbdUri.parse("nbd:///x")).hasMessageContaining("has no host");
    }
}
