package dev.rbd.protocol;

import java.util.Locale;

/**
 * Sizes as users write them, shared by both tools: {@code 4096}, {@code 4k}, {@code 4K}, {@code 4KiB}, {@code 4kb},
 * {@code 512M}, {@code 2G}, {@code 1T}, {@code 1P}, {@code 1E}; units are powers of 1024, case does not matter.
 */
public final class Sizes {
    /** Unit letters by power of 1024; the first is "bytes". */
    private static final String UNITS = " kmgtpe";
    private static final String[] FORMAT_UNITS = {"", "k", "M", "G", "T", "P", "E"};

    private Sizes() {
    }

    /**
     * Parses a size: digits, an optional unit letter (k, M, G, T, P, E) and an optional {@code iB} or {@code B}.
     *
     * @throws IllegalArgumentException naming the input when it is not a size or does not fit in a long
     */
    public static long parse(String text) {
        String s = text.trim().toLowerCase(Locale.ROOT);
        if (s.endsWith("ib")) {
            s = s.substring(0, s.length() - 2);
        } else if (s.endsWith("b")) {
            s = s.substring(0, s.length() - 1);
        }
        int unit = s.isEmpty() ? -1 : UNITS.indexOf(s.charAt(s.length() - 1));
        String digits = unit > 0 ? s.substring(0, s.length() - 1) : s;
        int shift = Math.max(unit, 0) * 10;
        if (digits.isEmpty() || !digits.chars().allMatch(c -> c >= '0' && c <= '9')) {
            throw new IllegalArgumentException("not a size: '" + text + "' (expected e.g. 4096, 4k, 1M, 2G)");
        }
        long n;
        try {
            n = Long.parseLong(digits);
        } catch (NumberFormatException e) {
            n = -1; // more digits than a long holds
        }
        // checked before shifting: n << shift must not lose bits or reach the sign bit
        if (n < 0 || n > (Long.MAX_VALUE >> shift)) {
            throw new IllegalArgumentException("size out of range: '" + text + "' (expected: less than 8E)");
        }
        return n << shift;
    }

    /** The shortest exact form that {@link #parse} reads back: 4096 as {@code 4k}, 1048576 as {@code 1M}. */
    public static String format(long bytes) {
        int u = 0;
        long n = bytes;
        while (u < FORMAT_UNITS.length - 1 && n != 0 && n % 1024 == 0) {
            n /= 1024;
            u++;
        }
        return n + FORMAT_UNITS[u];
    }

    /** For people, rounded, in binary units, one decimal below 10: {@code 0 B}, {@code 4.0 KiB}, {@code 512 MiB}. */
    public static String human(long bytes) {
        String[] units = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
        double v = bytes;
        int u = 0;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return u == 0 || v >= 10 ? String.format(Locale.ROOT, "%.0f %s", v, units[u])
                : String.format(Locale.ROOT, "%.1f %s", v, units[u]);
    }
}
