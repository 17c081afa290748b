package dev.rbd.server.export;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.Inet6Address;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class AccessRulesTest {
    @TempDir
    Path dir;

    private static AccessRules rules(String... rules) {
        return AccessRules.of(java.util.Arrays.stream(rules).map(AccessRules::parse).toList());
    }

    private static InetAddress ip(String a) throws Exception {
        return InetAddress.getByName(a);
    }

    @Test
    void noRuleLetsEveryoneIn() throws Exception {
        assertThat(AccessRules.OPEN.allows(ip("203.0.113.9"))).isTrue();
        assertThat(AccessRules.OPEN.allowsUid(1234)).isTrue();
        assertThat(AccessRules.of(List.of())).isSameAs(AccessRules.OPEN);
    }

    @Test
    void ipv4NetworksMatchByPrefixIncludingPartBytes() throws Exception {
        AccessRules r = rules("10.0.0.0/8", "172.16.0.0/12", "192.0.2.7");
        assertThat(r.allows(ip("10.255.1.2"))).isTrue();
        assertThat(r.allows(ip("11.0.0.1"))).isFalse();
        assertThat(r.allows(ip("172.31.255.255"))).isTrue();
        assertThat(r.allows(ip("172.32.0.0"))).isFalse();
        assertThat(r.allows(ip("172.15.255.255"))).isFalse();
        assertThat(r.allows(ip("192.0.2.7"))).isTrue();
        assertThat(r.allows(ip("192.0.2.8"))).as("a bare address is /32").isFalse();
        assertThat(r.allows(ip("::1"))).as("an IPv4 rule never matches an IPv6 peer").isFalse();
        assertThat(rules("0.0.0.0/0").allows(ip("198.51.100.1"))).isTrue();
    }

    @Test
    void ipv6NetworksAndIpv4MappedPeers() throws Exception {
        AccessRules r = rules("2001:db8::/32", "::1", "10.0.0.0/8");
        assertThat(r.allows(ip("2001:db8:ffff::1"))).isTrue();
        assertThat(r.allows(ip("2001:db9::1"))).isFalse();
        assertThat(r.allows(ip("::1"))).isTrue();
        assertThat(r.allows(ip("::2"))).isFalse();
        byte[] mapped = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, (byte) 0xff, (byte) 0xff, 10, 1, 2, 3};
        assertThat(r.allows(Inet6Address.getByAddress(null, mapped, -1))).as("::ffff:10.1.2.3 is 10.1.2.3").isTrue();
        mapped[12] = 11;
        assertThat(r.allows(Inet6Address.getByAddress(null, mapped, -1))).isFalse();
    }

    @Test
    void unixPeersByUserIdOnly() throws Exception {
        AccessRules r = rules("uid:1000", "127.0.0.1");
        assertThat(r.allowsUid(1000)).isTrue();
        assertThat(r.allowsUid(0)).isFalse();
        assertThat(r.allowsUid(-1)).as("a peer whose uid could not be read").isFalse();
        assertThat(rules("127.0.0.1").allowsUid(1000)).as("address rules do not let Unix peers in").isFalse();
        assertThat(rules("uid:1000").allows(ip("127.0.0.1"))).isFalse();
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "localhost", "example.org/8", "10.0.0.0/33", "10.0.0.1/", "1.2.3", "::1/129",
            "uid:", "uid:-1", "uid:99999999999", "10.0.0.0/8/8", "10.0.0.0/-1", "uid:10 00", "fe80::1%eth0", "10.0.0.1\nforged"})
    void badRulesAreRefusedInOneLine(String bad) {
        assertThatThrownBy(() -> AccessRules.parse(bad)).isInstanceOf(IllegalArgumentException.class)
                .satisfies(e -> assertThat(e.getMessage()).doesNotContain("\n"));
    }

    @Test
    void anAllowFileHasOneRuleALineWithComments() throws Exception {
        Path f = dir.resolve("allow");
        Files.writeString(f, "# the lab\n10.1.0.0/16   # room 1\n\n  uid:0\n");
        AccessRules r = AccessRules.read(f, List.of(AccessRules.parse("192.0.2.1")));
        assertThat(r.closed()).isFalse();
        assertThat(r.rules()).hasSize(3);
        assertThat(r.allows(ip("10.1.200.3"))).isTrue();
        assertThat(r.allows(ip("192.0.2.1"))).isTrue();
        assertThat(r.allows(ip("10.2.0.1"))).isFalse();
        assertThat(r.allowsUid(0)).isTrue();
    }

    @Test
    void anEmptyMissingOrBadAllowFileRefusesEveryone() throws Exception {
        Path empty = Files.writeString(dir.resolve("empty"), "# nothing yet\n\n");
        Path bad = Files.writeString(dir.resolve("bad"), "10.0.0.0/8\nlab-host\n");
        for (AccessRules r : List.of(AccessRules.read(empty, List.of()), AccessRules.read(dir.resolve("missing"),
                List.of(AccessRules.parse("127.0.0.1"))), AccessRules.read(bad, List.of()))) {
            assertThat(r.closed()).as(r.why()).isTrue();
            assertThat(r.allows(ip("127.0.0.1"))).isFalse();
            assertThat(r.allows(ip("10.0.0.1"))).isFalse();
            assertThat(r.allowsUid(0)).isFalse();
        }
        assertThat(AccessRules.read(bad, List.of()).why()).contains("line 2");
        assertThat(AccessRules.read(empty, List.of()).why()).contains("no rule");
    }

    private static AccessRules exportRules(String... rules) {
        return AccessRules.of(java.util.Arrays.stream(rules).map(AccessRules::parseForExport).toList());
    }

    @Test
    void cnRulesMatchTheTlsIdentityExactly() throws Exception {
        AccessRules r = exportRules("cn:host42", "cn:Lab Printer");
        assertThat(r.allows(null, -1, "host42")).isTrue();
        assertThat(r.allows(ip("203.0.113.9"), -1, "host42")).as("from any address").isTrue();
        assertThat(r.allows(null, 0, "Lab Printer")).isTrue();
        assertThat(r.allows(null, -1, "HOST42")).as("case-sensitive").isFalse();
        assertThat(r.allows(null, -1, "host4")).as("no prefix match").isFalse();
        assertThat(r.allows(null, -1, "host42 ")).isFalse();
        assertThat(r.allows(ip("127.0.0.1"), -1, null)).as("no identity").isFalse();
        assertThat(r.allows(null, 0, null)).isFalse();
        assertThat(r.allows(ip("127.0.0.1"))).as("the server-wide check never matches a cn: rule").isFalse();
    }

    @Test
    void exportRulesMixAddressesUidsAndIdentities() throws Exception {
        AccessRules r = exportRules("10.0.0.0/8", "uid:1000", "cn:host42");
        assertThat(r.allows(ip("10.9.8.7"), -1, null)).isTrue();
        assertThat(r.allows(ip("10.9.8.7"), -1, "stranger")).as("any rule naming the peer lets it in").isTrue();
        assertThat(r.allows(ip("192.0.2.1"), -1, "stranger")).isFalse();
        assertThat(r.allows(ip("192.0.2.1"), -1, "host42")).isTrue();
        assertThat(r.allows(null, 1000, null)).isTrue();
        assertThat(r.allows(null, 1001, null)).isFalse();
        assertThat(r.allows(null, -1, null)).as("a Unix peer whose uid is unknown").isFalse();
        byte[] mapped = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, (byte) 0xff, (byte) 0xff, 10, 1, 2, 3};
        assertThat(r.allows(Inet6Address.getByAddress(null, mapped, -1), -1, null)).isTrue();
        assertThat(AccessRules.OPEN.allows(null, -1, null)).isTrue();
    }

    @Test
    void cnRulesArePrintedSafely() {
        assertThat(AccessRules.parseForExport("cn:a\nb").toString()).isEqualTo("cn:a\\nb");
        assertThat(AccessRules.parseForExport("cn:a\nb")).isEqualTo(new AccessRules.Cn("a\nb"));
        assertThat(new AccessRules.Cn("x\u0000").toString()).doesNotContain("\u0000");
        assertThatThrownBy(() -> AccessRules.parseForExport("cn:")).hasMessageContaining("identity");
        assertThatThrownBy(() -> AccessRules.parseForExport("host42")).hasMessageContaining("cn:IDENTITY");
        assertThatThrownBy(() -> AccessRules.parse("cn:host42")).as("not a server-wide rule")
                .hasMessageContaining("allow=");
    }
}
