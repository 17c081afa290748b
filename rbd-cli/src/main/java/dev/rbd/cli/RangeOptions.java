package dev.rbd.cli;

import dev.rbd.client.ExportInfo;
import picocli.CommandLine.Option;

/** The required {@code --offset} and {@code --length} of the range commands (trim, zero), and their checks. */
final class RangeOptions {
    @Option(names = "--offset", paramLabel = "SIZE", required = true, converter = SizeConverter.class,
            description = "Start of the range (4096, 4k, 1M, 2G).")
    long offset;

    @Option(names = "--length", paramLabel = "SIZE", required = true, converter = SizeConverter.class,
            description = "Length of the range.")
    long length;

    /** Refuses, before anything is sent, a range past the end of the export or off its block size. */
    void check(ExportInfo info) {
        Preflight.withinExport(info, offset, length);
        Preflight.aligned(info, offset, length);
    }
}
