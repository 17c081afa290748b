package dev.rbd.server.export;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.InetAddress;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The export argument: {@code [NAME=]PATH[,OPTION]...}. */
class ExportSpecTest {
    @Test
    void aPathAloneIsNamedAfterItsFileAsBefore() {
        ExportSpec s = ExportSpec.parse("/srv/images/usr.img");
        assertThat(s.name()).isEqualTo("usr");
        assertThat(s.path()).isEqualTo(Path.of("/srv/images/usr.img"));
        assertThat(s.access()).isSameAs(AccessRules.OPEN);
        assertThat(ExportSpec.parse("disk").name()).isEqualTo("disk");
        assertThat(ExportSpec.parse(".hidden").name()).isEqualTo(".hidden");
    }

    @Test
    void nameEqualsPathKeepsWorkingAsBefore() {
        ExportSpec s = ExportSpec.parse("root=/dev/loop0");
        assertThat(s.name()).isEqualTo("root");
        assertThat(s.path()).isEqualTo(Path.of("/dev/loop0"));
        assertThat(s.access()).isSameAs(AccessRules.OPEN);
        // an '=' after a '/' belongs to the path, as before
        ExportSpec p = ExportSpec.parse("/srv/a=b.img");
        assertThat(p.name()).isEqualTo("a=b");
        assertThat(p.path()).isEqualTo(Path.of("/srv/a=b.img"));
    }

    @Test
    void allowIsRepeatableAndTakesAddressesNetworksUidsAndIdentities() throws Exception {
        ExportSpec s = ExportSpec.parse("root=/srv/root.img,allow=10.0.0.0/8,allow=cn:host42,allow=uid:1000,"
                + "allow=2001:db8::/32,allow=::1");
        assertThat(s.name()).isEqualTo("root");
        assertThat(s.path()).isEqualTo(Path.of("/srv/root.img"));
        assertThat(s.access().rules()).containsExactly(AccessRules.parse("10.0.0.0/8"), new AccessRules.Cn("host42"),
                new AccessRules.Uid(1000), AccessRules.parse("2001:db8::/32"), AccessRules.parse("::1"));
        AccessRules a = s.access();
        assertThat(a.allows(InetAddress.getByName("10.1.2.3"), -1, null)).isTrue();
        assertThat(a.allows(InetAddress.getByName("2001:db8::7"), -1, null)).isTrue();
        assertThat(a.allows(InetAddress.getByName("::1"), -1, null)).isTrue();
        assertThat(a.allows(InetAddress.getByName("192.0.2.1"), -1, null)).isFalse();
        assertThat(a.allows(InetAddress.getByName("192.0.2.1"), -1, "host42")).isTrue();
        assertThat(a.allows(null, 1000, null)).isTrue();
        assertThat(a.allows(null, 1001, null)).isFalse();
    }

    @Test
    void aDoubledCommaIsACommaOfThePath() {
        ExportSpec s = ExportSpec.parse("odd=/srv/a,,b.img,allow=127.0.0.1");
        assertThat(s.path()).isEqualTo(Path.of("/srv/a,b.img"));
        assertThat(s.access().rules()).containsExactly(AccessRules.parse("127.0.0.1"));
        assertThat(ExportSpec.parse("/srv/a,,b.img").name()).isEqualTo("a,b");
    }

    @Test
    void anIdentityIsKeptExactly() {
        ExportSpec s = ExportSpec.parse("x=/a,allow=cn:Host 42.example=1");
        assertThat(s.access().rules()).containsExactly(new AccessRules.Cn("Host 42.example=1"));
        assertThat(s.access().allows(null, -1, "Host 42.example=1")).isTrue();
        assertThat(s.access().allows(null, -1, "host 42.example=1")).as("case-sensitive").isFalse();
    }

    @Test
    void anUnknownOptionIsNamed() {
        assertThatThrownBy(() -> ExportSpec.parse("root=/srv/root.img,readonly"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("export 'root'")
                .hasMessageContaining("unknown option 'readonly'").hasMessageContaining("allow=, clients=, description=, overlays=, ro");
        assertThatThrownBy(() -> ExportSpec.parse("root=/srv/root.img,allow=10.0.0.0/8,colour=blue"))
                .hasMessageContaining("unknown option 'colour'");
        // a single comma in a path reads as an option: the error says how to write it
        assertThatThrownBy(() -> ExportSpec.parse("/srv/a,b.img")).hasMessageContaining("unknown option 'b.img'")
                .hasMessageContaining("a,,b");
        assertThatThrownBy(() -> ExportSpec.parse("x=/a,bad\noption")).hasMessageContaining("'bad\\noption'");
    }

    @Test
    void overlaysTempAskForATemporaryOverlayPerConnection() {
        ExportSpec s = ExportSpec.parse("kiosk=/srv/kiosk.img,overlays=temp");
        assertThat(s.temporaryOverlays()).isTrue();
        assertThat(s.readOnly()).isFalse();
        assertThat(ExportSpec.parse("kiosk=/srv/kiosk.img").temporaryOverlays()).isFalse();
    }

    @Test
    void overlaysInADirectoryAskForAPersistentOverlayPerClient() {
        ExportSpec s = ExportSpec.parse("root=/srv/root.img,overlays=/srv/o");
        assertThat(s.overlayDir()).isEqualTo(Path.of("/srv/o"));
        assertThat(s.temporaryOverlays()).isFalse();
        assertThat(s.readOnly()).isFalse();
        assertThat(ExportSpec.parse("root=/srv/root.img,overlays=o,,x").overlayDir()).isEqualTo(Path.of("o,x"));
        assertThat(ExportSpec.parse("root=/srv/root.img,overlays=temp").overlayDir()).isNull();
        assertThatThrownBy(() -> ExportSpec.parse("root=/srv/root.img,overlays=/srv/o,ro"))
                .hasMessageContaining("export 'root': ro and overlays=/srv/o exclude each other");
    }

    @Test
    void clientsCnBindsClientNamesToTlsIdentitiesAndNeedsOverlaysInADirectory() {
        assertThat(ExportSpec.parse("root=/srv/root.img,overlays=/srv/o,clients=cn").clientsByIdentity()).isTrue();
        assertThat(ExportSpec.parse("root=/srv/root.img,overlays=/srv/o").clientsByIdentity()).isFalse();
        assertThatThrownBy(() -> ExportSpec.parse("root=/srv/root.img,clients=cn"))
                .hasMessageContaining("export 'root': clients=cn needs overlays=DIR");
        assertThatThrownBy(() -> ExportSpec.parse("root=/srv/root.img,overlays=/o,clients=ip"))
                .hasMessageContaining("clients=ip (expected: clients=cn");
        assertThatThrownBy(() -> ExportSpec.parse("root=/srv/root.img,overlays=/o,clients=cn,clients=cn"))
                .hasMessageContaining("clients= is given twice");
    }

    @Test
    void overlaysNeedOneValueAndTempIsNotReadOnly() {
        assertThatThrownBy(() -> ExportSpec.parse("root=/srv/root.img,overlays"))
                .hasMessageContaining("overlays= needs a value");
        assertThatThrownBy(() -> ExportSpec.parse("root=/srv/root.img,overlays=temp,overlays=temp"))
                .hasMessageContaining("overlays= is given twice");
        assertThatThrownBy(() -> ExportSpec.parse("root=/srv/root.img,overlays=temp,ro"))
                .hasMessageContaining("export 'root': ro and overlays=temp exclude each other");
        assertThatThrownBy(() -> ExportSpec.parse("root=/srv/root.img,ro,overlays=temp"))
                .hasMessageContaining("ro and overlays=temp exclude each other");
    }

    @Test
    void roMakesThisExportReadOnly() {
        ExportSpec s = ExportSpec.parse("usr=/srv/usr.img,ro,allow=10.0.0.0/8");
        assertThat(s.readOnly()).isTrue();
        assertThat(s.access().rules()).containsExactly(AccessRules.parse("10.0.0.0/8"));
        assertThat(s.description()).as("the default").isNull();
        assertThat(ExportSpec.parse("usr=/srv/usr.img").readOnly()).isFalse();
        assertThat(ExportSpec.parse("/srv/usr.img,ro").name()).isEqualTo("usr");
    }

    @Test
    void roTakesNoValueAndComesOnce() {
        assertThatThrownBy(() -> ExportSpec.parse("usr=/a,ro=true")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("export 'usr'").hasMessageContaining("ro takes no value")
                .hasMessageContaining("'ro=true'");
        assertThatThrownBy(() -> ExportSpec.parse("usr=/a,ro=")).hasMessageContaining("ro takes no value");
        assertThatThrownBy(() -> ExportSpec.parse("usr=/a,ro,ro")).hasMessageContaining("export 'usr'")
                .hasMessageContaining("ro is given twice");
    }

    @Test
    void descriptionIsKeptWithItsCommasAndSpaces() {
        ExportSpec s = ExportSpec.parse(
                "root=/srv/root.img,description=Root image,, hosts 1-40 = \u00e9t\u00e9 \ud83d\ude00,ro");
        assertThat(s.description()).isEqualTo("Root image, hosts 1-40 = \u00e9t\u00e9 \ud83d\ude00");
        assertThat(s.readOnly()).isTrue();
        assertThat(ExportSpec.parse("x=/a,description=").description()).as("empty says nothing").isEmpty();
        String longest = "\u00e9".repeat(ExportSpec.MAX_DESCRIPTION_BYTES / 2);
        assertThat(ExportSpec.parse("x=/a,description=" + longest).description()).isEqualTo(longest);
    }

    @Test
    void aBadDescriptionIsRefusedSayingWhy() {
        assertThatThrownBy(() -> ExportSpec.parse("x=/a,description")).hasMessageContaining("export 'x'")
                .hasMessageContaining("description=TEXT");
        assertThatThrownBy(() -> ExportSpec.parse("x=/a,description=a,description=b"))
                .hasMessageContaining("description= is given twice");
        assertThatThrownBy(() -> ExportSpec.parse("x=/a,description=" + "y".repeat(4097)))
                .hasMessageContaining("description= of 4097 bytes (expected: <= 4096 bytes of UTF-8)");
        assertThatThrownBy(() -> ExportSpec.parse("x=/a,description=" + "\u00e9".repeat(2049)))
                .as("bytes, not characters").hasMessageContaining("of 4098 bytes");
        assertThatThrownBy(() -> ExportSpec.parse("x=/a,description=evil\u001b[2J"))
                .hasMessageContaining("control character (\\u001b) at character 5");
        assertThatThrownBy(() -> ExportSpec.parse("x=/a,description=two\nlines"))
                .hasMessageContaining("control character (\\n)");
        assertThatThrownBy(() -> ExportSpec.parse("x=/a,description=tab\there")).hasMessageContaining("control");
        assertThatThrownBy(() -> ExportSpec.parse("x=/a,description=\u202eright-to-left"))
                .hasMessageContaining("control character (\\u202e)");
        assertThatThrownBy(() -> ExportSpec.parse("x=/a,description=lone \ud83d surrogate"))
                .hasMessageContaining("not valid Unicode at character 6");
    }

    @ParameterizedTest
    @ValueSource(strings = {"root=/a,allow=", "root=/a,allow", "root=/a,allow=cn:", "root=/a,allow=localhost",
        "root=/a,allow=10.0.0.0/33", "root=/a,allow=uid:x", "root=/a,allow=::1/129", "root=/a,allow=[::1]",
        "root=/a,", "root=/a,,,", "root=,allow=::1", "", ",allow=::1", "root=/a,=x", "root=/a,ro=1",
        "root=/a,ro,ro", "root=/a,description", "root=/a,description=\u0007", "root=/a,RO", "root=/a,Description=x"})
    void badArgumentsAreRefusedWithTheExportNamed(String text) {
        assertThatThrownBy(() -> ExportSpec.parse(text)).as(text).isInstanceOf(IllegalArgumentException.class)
                .message().isNotBlank();
    }

    @Test
    void aBadAllowSaysWhatARuleIs() {
        assertThatThrownBy(() -> ExportSpec.parse("root=/a,allow=")).hasMessageContaining("export 'root'")
                .hasMessageContaining("allow= needs a rule");
        assertThatThrownBy(() -> ExportSpec.parse("root=/a,allow=host42")).hasMessageContaining("export 'root'")
                .hasMessageContaining("cn:IDENTITY").hasMessageContaining("'host42'");
        assertThatThrownBy(() -> ExportSpec.parse("root=/a,allow=cn:")).hasMessageContaining("cn: needs an identity");
    }

    @Test
    void theServerWideRulesTakeNoIdentity() {
        assertThatThrownBy(() -> AccessRules.parse("cn:host42")).hasMessageContaining("allow=");
        assertThat(List.of(AccessRules.parseForExport("cn:host42"))).containsExactly(new AccessRules.Cn("host42"));
    }
}
