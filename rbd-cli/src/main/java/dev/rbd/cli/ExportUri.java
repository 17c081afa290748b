package dev.rbd.cli;

import picocli.CommandLine.Parameters;

/** The export URI argument of the commands that work on one export (a picocli mixin), checked while parsing. */
final class ExportUri {
    @Parameters(index = "0", paramLabel = "URI", converter = NbdUriConverter.class,
            description = "nbd[s]://host[:port]/export or nbd[s]+unix:///export?socket=PATH (nbds: TLS, with "
                    + "?tls-certificates=DIR)")
    String text;
}
