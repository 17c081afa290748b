package dev.rbd.server;

import java.time.Duration;
import java.time.temporal.ChronoUnit;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/**
 * Reads a duration: a whole number with a unit, {@code 500ms}, {@code 30s}, {@code 5m}, {@code 2h}, or a bare number
 * of seconds ({@code 10}, {@code 0}). A negative, fractional or unknown value is a usage error.
 */
class DurationConverter implements ITypeConverter<Duration> {
    @Override
    public Duration convert(String text) {
        Duration d = parse(text.trim());
        if (d == null) {
            throw new TypeConversionException("not a duration: '" + text + "' (expected e.g. " + examples() + ")");
        }
        return d;
    }

    String examples() {
        return "10, 500ms, 30s, 5m, 1h";
    }

    private static Duration parse(String s) {
        int digits = 0;
        while (digits < s.length() && s.charAt(digits) >= '0' && s.charAt(digits) <= '9') {
            digits++;
        }
        if (digits == 0 || digits > 9) {
            return null; // at most 9 digits: no overflow, whatever the unit
        }
        long n = Long.parseLong(s.substring(0, digits));
        ChronoUnit unit = switch (s.substring(digits)) {
            case "", "s" -> ChronoUnit.SECONDS;
            case "ms" -> ChronoUnit.MILLIS;
            case "m" -> ChronoUnit.MINUTES;
            case "h" -> ChronoUnit.HOURS;
            default -> null;
        };
        return unit == null ? null : Duration.of(n, unit);
    }

    /** A duration that may also be {@code off} (read as zero, as is {@code 0}): a timeout that can be turned off. */
    static final class OrOff extends DurationConverter {
        @Override
        public Duration convert(String text) {
            return text.trim().equals("off") ? Duration.ZERO : super.convert(text);
        }

        @Override
        String examples() {
            return "off, " + super.examples();
        }
    }
}
