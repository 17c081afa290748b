package dev.rbd.cli;

import dev.rbd.protocol.Sizes;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/** Reads a size option with the grammar of {@link Sizes} ({@code 4096}, {@code 4k}, {@code 1M}); bad input is a usage error. */
public final class SizeConverter implements ITypeConverter<Long> {
    @Override
    public Long convert(String text) {
        try {
            return Sizes.parse(text);
        } catch (IllegalArgumentException e) {
            throw new TypeConversionException(e.getMessage());
        }
    }
}
