package dev.rbd.server.export;

import dev.rbd.protocol.NbdString;
import java.io.IOException;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Pattern;

/**
 * Which peers may connect at all ({@code --allow}, {@code --allow-file}) or use one export (its {@code allow=}
 * options): TCP peers by address ({@code 10.0.0.0/8}, {@code 192.0.2.7}, {@code 2001:db8::/32}, {@code ::1}),
 * Unix-socket peers by user id ({@code uid:1000}) and, for an export, TLS clients by the subject CN of their verified
 * certificate ({@code cn:host42}). With no rule, everyone may; with any rule, only the peers a rule names. An IPv4
 * peer seen through an IPv6 socket ({@code ::ffff:192.0.2.7}) is the IPv4 peer. Rules name numeric addresses only: a
 * host name is refused, so nothing is looked up.
 *
 * @param rules  the rules, in the order given
 * @param closed refuse everyone whatever the rules say (an allow file that could not be read or held no rule)
 * @param why    why it is closed, or {@code null}
 */
public record AccessRules(List<Rule> rules, boolean closed, String why) {
    /** Everyone may connect. */
    public static final AccessRules OPEN = new AccessRules(List.of(), false, null);

    private static final Pattern UID = Pattern.compile("uid:(\\d{1,10})");
    private static final String CN = "cn:";
    private static final Pattern IPV4 = Pattern.compile("\\d{1,3}(\\.\\d{1,3}){3}");
    private static final Pattern IPV6 = Pattern.compile("[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*");

    public AccessRules {
        rules = List.copyOf(rules);
    }

    /** One rule: a network (address and prefix length), a Unix peer's user id, or a TLS client's identity. */
    public sealed interface Rule permits Network, Uid, Cn {
    }

    /** The addresses whose first {@code prefix} bits are those of {@code address}. */
    public record Network(byte[] address, int prefix) implements Rule {
        public Network {
            address = address.clone();
            if (address.length != 4 && address.length != 16 || prefix < 0 || prefix > address.length * 8) {
                throw new IllegalArgumentException("prefix: " + prefix + " (expected: 0.." + address.length * 8 + ")");
            }
        }

        boolean contains(byte[] peer) {
            if (peer.length != address.length) {
                return false;
            }
            int whole = prefix / 8;
            for (int i = 0; i < whole; i++) {
                if (peer[i] != address[i]) {
                    return false;
                }
            }
            int rest = prefix % 8;
            if (rest == 0) {
                return true;
            }
            int mask = 0xff << (8 - rest) & 0xff;
            return (peer[whole] & mask) == (address[whole] & mask);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Network n && n.prefix == prefix && Arrays.equals(n.address, address);
        }

        @Override
        public int hashCode() {
            return 31 * Arrays.hashCode(address) + prefix;
        }

        @Override
        public String toString() {
            try {
                return InetAddress.getByAddress(address).getHostAddress() + "/" + prefix;
            } catch (UnknownHostException e) {
                throw new AssertionError(e);
            }
        }
    }

    /** A Unix-socket peer running as this user. */
    public record Uid(long uid) implements Rule {
        @Override
        public String toString() {
            return "uid:" + uid;
        }
    }

    /**
     * A TLS client whose verified certificate's subject CN is exactly {@code identity} (case-sensitive). Only an
     * export's rules hold these: the identity is known only after the greeting, when the connection rules are done.
     */
    public record Cn(String identity) implements Rule {
        public Cn {
            if (identity.isEmpty()) {
                throw new IllegalArgumentException("cn: needs an identity (cn:NAME)");
            }
        }

        @Override
        public String toString() {
            return CN + NbdString.printable(identity);
        }
    }

    /** The rules given, or {@link #OPEN} when none is. */
    public static AccessRules of(List<Rule> rules) {
        return rules.isEmpty() ? OPEN : new AccessRules(rules, false, null);
    }

    /**
     * Parses one rule: {@code ADDRESS[/PREFIX]} or {@code uid:N}.
     *
     * @throws IllegalArgumentException with a message fit for a usage error
     */
    public static Rule parse(String text) {
        String t = text.strip();
        if (t.startsWith(CN)) {
            throw new IllegalArgumentException("'" + NbdString.printable(text) + "': a cn: rule belongs to an export's"
                    + " allow= option (a client's identity is known only after the TLS handshake)");
        }
        var uid = UID.matcher(t);
        if (uid.matches()) {
            long n = Long.parseLong(uid.group(1));
            if (n > 0xffff_ffffL) {
                throw new IllegalArgumentException("uid out of range: " + n);
            }
            return new Uid(n);
        }
        int slash = t.indexOf('/');
        String addr = slash < 0 ? t : t.substring(0, slash);
        if (!IPV4.matcher(addr).matches() && !IPV6.matcher(addr).matches()) {
            throw new IllegalArgumentException("not an address, a network (ADDRESS/PREFIX) or uid:N: '"
                    + NbdString.printable(text) + "'");
        }
        byte[] bytes;
        try {
            bytes = InetAddress.getByName(addr).getAddress(); // numeric only (checked above): no lookup
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException("not an address: '" + NbdString.printable(addr) + "'");
        }
        int max = bytes.length * 8;
        int prefix = max;
        if (slash >= 0) {
            String p = t.substring(slash + 1);
            if (!p.matches("\\d{1,3}") || Integer.parseInt(p) > max) {
                throw new IllegalArgumentException("prefix length must be 0.." + max + ": '"
                        + NbdString.printable(text) + "'");
            }
            prefix = Integer.parseInt(p);
        }
        return new Network(bytes, prefix);
    }

    /**
     * Parses one rule of an export's {@code allow=}: what {@link #parse} takes, or {@code cn:IDENTITY}.
     *
     * @throws IllegalArgumentException with a message fit for a usage error
     */
    public static Rule parseForExport(String text) {
        if (text.startsWith(CN)) {
            return new Cn(text.substring(CN.length()));
        }
        try {
            return parse(text);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(e.getMessage().replace(" or uid:N", ", uid:N or cn:IDENTITY"), e);
        }
    }

    /**
     * Reads an allow file: one rule a line; blank lines and {@code #} comments are skipped. A file that cannot be
     * read, holds a line that is not a rule, or holds no rule at all gives rules that refuse everyone (fail closed),
     * saying why.
     */
    public static AccessRules read(Path file, List<Rule> more) {
        List<Rule> rules = new ArrayList<>(more);
        List<String> lines;
        try {
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (IOException | RuntimeException e) {
            return new AccessRules(rules, true, "allow file " + file + " cannot be read (" + e + ")");
        }
        int before = rules.size();
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i);
            int hash = line.indexOf('#');
            String rule = (hash < 0 ? line : line.substring(0, hash)).strip();
            if (rule.isEmpty()) {
                continue;
            }
            try {
                rules.add(parse(rule));
            } catch (IllegalArgumentException e) {
                return new AccessRules(rules, true, "allow file " + file + " line " + (i + 1) + ": " + e.getMessage());
            }
        }
        if (rules.size() == before) {
            return new AccessRules(rules, true, "allow file " + file + " holds no rule");
        }
        return new AccessRules(rules, false, null);
    }

    /** Whether a TCP peer at {@code peer} may connect. */
    public boolean allows(InetAddress peer) {
        if (closed) {
            return false;
        }
        if (rules.isEmpty()) {
            return true;
        }
        byte[] a = ipv4IfMapped(peer);
        for (Rule r : rules) {
            if (r instanceof Network n && n.contains(a)) {
                return true;
            }
        }
        return false;
    }

    /** Whether a Unix-socket peer running as {@code uid} ({@code -1}: unknown) may connect. */
    public boolean allowsUid(long uid) {
        if (closed) {
            return false;
        }
        if (rules.isEmpty()) {
            return true;
        }
        for (Rule r : rules) {
            if (r instanceof Uid u && u.uid() == uid && uid >= 0) {
                return true;
            }
        }
        return false;
    }

    /**
     * Whether a peer may use what these rules guard: a TCP peer at {@code address} (else {@code null}), a Unix-socket
     * peer running as {@code uid} ({@code -1}: not one, or unknown), with the TLS identity {@code identity}
     * ({@code null}: none). Any rule that names it lets it in.
     */
    public boolean allows(InetAddress address, long uid, String identity) {
        if (closed) {
            return false;
        }
        if (rules.isEmpty()) {
            return true;
        }
        byte[] a = address != null ? ipv4IfMapped(address) : null;
        for (Rule r : rules) {
            if (r instanceof Network n && a != null && n.contains(a)
                    || r instanceof Uid u && uid >= 0 && u.uid() == uid
                    || r instanceof Cn c && c.identity().equals(identity)) {
                return true;
            }
        }
        return false;
    }

    private static byte[] ipv4IfMapped(InetAddress a) {
        byte[] b = a.getAddress();
        if (a instanceof Inet6Address && isMapped(b)) {
            return Arrays.copyOfRange(b, 12, 16);
        }
        assert a instanceof Inet4Address || b.length == 16;
        return b;
    }

    private static boolean isMapped(byte[] b) {
        for (int i = 0; i < 10; i++) {
            if (b[i] != 0) {
                return false;
            }
        }
        return b[10] == (byte) 0xff && b[11] == (byte) 0xff;
    }
}
