package dev.rbd.cli;

import java.util.Locale;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/** Sizes as users write them: {@code 4096}, {@code 4k}, {@code 1M}, {@code 2G} (powers of 1024; {@code KiB} too). */
public final class SizeConverter implements ITypeConverter<Long> {
    @Override
    public Long convert(String text) {
        return parse(text);
    }

    /** Parses a size; throws {@link TypeConversionException} (a usage error) naming the bad input. */
    public static long parse(String text) {
        String s = text.trim().toLowerCase(Locale.ROOT);
        if (s.endsWith("ib")) {
            s = s.substring(0, s.length() - 2);
        } else if (s.endsWith("b")) {
            s = s.substring(0, s.length() - 1);
        }
        int shift = s.isEmpty() ? 0 : switch (s.charAt(s.length() - 1)) {
            case 'k' -> 10;
            case 'm' -> 20;
            case 'g' -> 30;
            case 't' -> 40;
            default -> 0;
        };
        String digits = shift == 0 ? s : s.substring(0, s.length() - 1);
        long n;
        try {
            n = Long.parseLong(digits);
        } catch (NumberFormatException e) {
            throw new TypeConversionException("not a size: '" + text + "' (expected e.g. 4096, 4k, 1M, 2G)");
        }
        if (n < 0 || n > (Long.MAX_VALUE >> shift)) {
            throw new TypeConversionException("size out of range: '" + text + "'");
        }
        return n << shift;
    }

    /** The shortest exact form: 4096 as {@code 4k}, 1048576 as {@code 1M}, 1000 as {@code 1000}. */
    public static String format(long bytes) {
        String[] units = {"", "k", "M", "G", "T"};
        int u = 0;
        while (u < units.length - 1 && bytes != 0 && bytes % 1024 == 0) {
            bytes /= 1024;
            u++;
        }
        return bytes + units[u];
    }
}
