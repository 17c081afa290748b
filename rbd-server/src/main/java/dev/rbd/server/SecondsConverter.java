package dev.rbd.server;

import java.time.Duration;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/** Reads a timeout given in whole seconds ({@code 10}, {@code 0}); a negative or non-numeric one is a usage error. */
final class SecondsConverter implements ITypeConverter<Duration> {
    @Override
    public Duration convert(String text) {
        String s = text.trim();
        if (!s.isEmpty() && s.length() <= 9 && s.chars().allMatch(c -> c >= '0' && c <= '9')) {
            return Duration.ofSeconds(Integer.parseInt(s));
        }
        throw new TypeConversionException("not a number of seconds: '" + text + "' (expected e.g. 0, 10, 60)");
    }
}
