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
        assertThatThrownBy(() -> ExportSpec.parse("root=/srv/root.img,ro")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("export 'root'").hasMessageContaining("unknown option 'ro'");
        assertThatThrownBy(() -> ExportSpec.parse("root=/srv/root.img,allow=10.0.0.0/8,colour=blue"))
                .hasMessageContaining("unknown option 'colour'");
        // a single comma in a path reads as an option: the error says how to write it
        assertThatThrownBy(() -> ExportSpec.parse("/srv/a,b.img")).hasMessageContaining("unknown option 'b.img'")
                .hasMessageContaining("a,,b");
        assertThatThrownBy(() -> ExportSpec.parse("x=/a,bad\noption")).hasMessageContaining("'bad\\noption'");
    }

    @ParameterizedTest
    @ValueSource(strings = {"root=/a,allow=", "root=/a,allow", "root=/a,allow=cn:", "root=/a,allow=localhost",
        "root=/a,allow=10.0.0.0/33", "root=/a,allow=uid:x", "root=/a,allow=::1/129", "root=/a,allow=[::1]",
        "root=/a,", "root=/a,,,", "root=,allow=::1", "", ",allow=::1", "root=/a,=x"})
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
