package dev.rbd.cli;

import dev.rbd.client.ClientOptions;
import dev.rbd.client.NbdUri;
import dev.rbd.protocol.Sizes;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.function.LongConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code rbd-cli copy SRC DST}: a sparse, pipelined copy between a file and an export, or two exports. */
@Command(name = "copy", mixinStandardHelpOptions = true, versionProvider = RbdCliVersion.class,
        description = {"Copy a file to an NBD export, an export to a file, or an export to another export. The "
                + "copy is as long as SRC; an export DST must be at least that large, a file DST is emptied and "
                + "set to that size. Blocks that are all zeroes are not sent as data: on an export they become "
                + "WRITE_ZEROES requests (the server may punch holes), in a file they stay holes. Where an SRC "
                + "export's server gives block status (base:allocation), ranges it reports as zeroes are not read "
                + "at all. DST is flushed (FLUSH, fsync) at the end.",
                "A progress bar is shown on a terminal; a summary line goes to stderr at the end."},
        footer = {"", "Examples:",
                "  rbd-cli copy disk.img nbd://127.0.0.1/disk",
                "  rbd-cli copy nbd://127.0.0.1/disk backup.img --verify",
                "  rbd-cli copy nbd://host-a/disk nbd+unix:///disk?socket=/run/rbd.sock --connections 8"})
public final class CopyCommand implements Callable<Integer> {
    static final int MIN_CHUNK = 4096;
    static final int MAX_CHUNK = 32 << 20;
    static final long MAX_BYTES_IN_FLIGHT = 512L << 20;

    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "SRC", description = "A file (or block device), or an NBD URI: "
            + "nbd[s]://host[:port]/export, nbd[s]+unix:///export?socket=PATH")
    String source;

    @Parameters(index = "1", paramLabel = "DST", description = "A file (created if missing), or an NBD URI. "
            + "SRC and DST cannot both be files.")
    String target;

    @Option(names = "--connections", paramLabel = "N", defaultValue = "4",
            description = "NBD connections per export, where the server allows multi-conn; requests are spread "
                    + "over them. (default: ${DEFAULT-VALUE})")
    int connections;

    @Option(names = "--chunk", paramLabel = "SIZE", defaultValue = "1M", converter = SizeConverter.class,
            description = "Bytes per read (4k to 32M, a multiple of 4k). (default: ${DEFAULT-VALUE})")
    long chunk;

    @Option(names = "--qd", paramLabel = "N", defaultValue = "16",
            description = "Chunks being read or written at once; memory use is about --qd x --chunk. "
                    + "(default: ${DEFAULT-VALUE})")
    int queueDepth;

    @Option(names = "--verify", description = "After copying, read both sides again and compare them; a "
            + "difference fails the copy with its offset.")
    boolean verify;

    @Option(names = {"-q", "--quiet"}, description = "No progress bar and no summary line; errors are still "
            + "reported.")
    boolean quiet;

    @Override
    public Integer call() throws Exception {
        checkOptions();
        ClientOptions options = ClientOptions.builder()
                .connections(connections)
                .maxRequestSize(Math.max(4 << 20, (int) chunk))
                .maxInFlight(Math.max(64, 2 * queueDepth))
                .maxRetainedBytes((int) Math.min(Integer.MAX_VALUE, Math.max(64L << 20, 2 * queueDepth * chunk)))
                .build();
        try (CopyEndpoint src = open(source, true, options);
             CopyEndpoint dst = open(target, false, options)) {
            long length = src.size();
            dst.prepareTarget(length);
            Copier copier = new Copier(src, dst, (int) chunk, queueDepth);
            long start = System.nanoTime();
            Copier.Totals t;
            try (Progress bar = progress("copy", length)) {
                t = copier.copy(length, bar);
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            // what the source reported as zeroes is named before the zeroes skipped, which include it
            String unread = t.unreadBytes() > 0 ? Sizes.human(t.unreadBytes()) + " not read (the source reported zeroes), "
                    : "";
            String summary = String.format(Locale.ROOT, "copied %s in %.1f s (%.0f MB/s), %s%s of zeroes skipped",
                    Sizes.human(t.bytes()), seconds, t.bytes() / 1e6 / Math.max(seconds, 1e-9), unread,
                    Sizes.human(t.zeroBytes()));
            if (verify) {
                long at;
                try (Progress bar = progress("verify", length)) {
                    at = copier.firstDifference(length, bar);
                }
                if (at >= 0) {
                    throw new IllegalStateException("verify failed: " + dst.describe() + " differs from "
                            + src.describe() + " at offset " + at);
                }
                summary += ", verified";
            }
            say(summary);
            return 0;
        }
    }

    /** Option combinations that cannot work whatever the sides are: usage errors (exit 2). */
    private void checkOptions() {
        boolean sourceIsUri = checkUri(source, "SRC");
        boolean targetIsUri = checkUri(target, "DST");
        if (!sourceIsUri && !targetIsUri) {
            throw usage("SRC and DST are both files; one of them must be an NBD URI");
        }
        if (connections < 1 || connections > 64) {
            throw usage("--connections " + connections + " (expected: 1 to 64)");
        }
        if (chunk < MIN_CHUNK || chunk > MAX_CHUNK || chunk % MIN_CHUNK != 0) {
            throw usage("--chunk " + Sizes.format(chunk) + " (expected: 4k to 32M, a multiple of 4k)");
        }
        if (queueDepth < 1 || queueDepth > 1024) {
            throw usage("--qd " + queueDepth + " (expected: 1 to 1024)");
        }
        if (queueDepth * chunk > MAX_BYTES_IN_FLIGHT) {
            throw usage("--qd " + queueDepth + " x --chunk " + Sizes.format(chunk) + " is over "
                    + Sizes.format(MAX_BYTES_IN_FLIGHT) + " in memory");
        }
    }

    /** Whether the argument is an NBD URI (it has a scheme); one with a scheme we cannot use is a usage error. */
    private boolean checkUri(String arg, String label) {
        if (!arg.contains("://")) {
            return false;
        }
        try {
            NbdUri.parse(arg);
            return true;
        } catch (IllegalArgumentException e) {
            throw usage(label + ": " + e.getMessage());
        }
    }

    private static CopyEndpoint open(String arg, boolean isSource, ClientOptions options) throws Exception {
        if (arg.contains("://")) {
            // the source is only read: against rbd-server it takes no writer slot
            // a source asks for base:allocation: what its server reports as zeroes is not read
            return ExportEndpoint.connect(arg, options.toBuilder().readOnly(isSource).blockStatus(isSource).build(),
                    isSource ? "rbd-copy-src" : "rbd-copy-dst");
        }
        return isSource ? FileEndpoint.openSource(Path.of(arg)) : FileEndpoint.openTarget(Path.of(arg));
    }

    /** A progress bar on a terminal, else nothing. */
    private Progress progress(String task, long length) {
        if (quiet || System.console() == null) {
            return new Progress(null);
        }
        return new Progress(new ProgressBarBuilder().setTaskName(task).setInitialMax(length).setUnit("MiB", 1 << 20)
                .showSpeed().setUpdateIntervalMillis(250).clearDisplayOnFinish().build());
    }

    /** Feeds the bar, if there is one. */
    private record Progress(ProgressBar bar) implements LongConsumer, AutoCloseable {
        @Override
        public void accept(long done) {
            if (bar != null) {
                bar.stepTo(done);
            }
        }

        @Override
        public void close() {
            if (bar != null) {
                bar.close();
            }
        }
    }

    private void say(String line) {
        if (!quiet) {
            PrintWriter err = spec.commandLine().getErr();
            err.println(line);
            err.flush();
        }
    }


    private ParameterException usage(String message) {
        return new ParameterException(spec.commandLine(), message);
    }
}
