package dev.rbd.cli;

import dev.rbd.client.NbdUri;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/**
 * Checks an NBD URI argument ({@code nbd://host[:port]/export}, {@code nbd+unix:///export?socket=PATH}, and the TLS
 * forms {@code nbds://} and {@code nbds+unix://} with libnbd's {@code tls-*} query parameters) while the
 * command line is parsed, so a bad one is a usage error. It yields the text as given, which is what
 * {@code RbdClient.connect} takes.
 */
public final class NbdUriConverter implements ITypeConverter<String> {
    @Override
    public String convert(String text) {
        try {
            NbdUri.parse(text);
            return text;
        } catch (IllegalArgumentException e) {
            throw new TypeConversionException(e.getMessage());
        }
    }
}
