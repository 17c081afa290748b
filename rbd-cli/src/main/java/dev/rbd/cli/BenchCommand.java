package dev.rbd.cli;

import dev.rbd.client.ClientOptions;
import dev.rbd.client.ExportInfo;
import dev.rbd.client.NbdUri;
import dev.rbd.client.RbdClient;
import dev.rbd.protocol.NbdString;
import dev.rbd.protocol.Sizes;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadLocalRandom;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** {@code rbd-cli bench URI}: IOPS, throughput and latency percentiles of one access pattern against an export. */
@Command(name = "bench", mixinStandardHelpOptions = true, versionProvider = RbdCliVersion.class,
        description = "Measure an NBD export: keep --qd requests in flight for --duration and report IOPS, MB/s "
                + "and latency percentiles. Writing patterns refuse an export that holds data unless --force.",
        footer = {"", "Examples:",
                "  rbd-cli bench nbd://127.0.0.1/disk --pattern randread --bs 4k --qd 32 --duration 10s",
                "  rbd-cli bench nbd://127.0.0.1/scratch --pattern randrw --connections 4 --verify --json"})
public final class BenchCommand implements Callable<Integer> {
    /** Blocks read before a writing run to tell an empty export from one holding data. */
    static final int MAX_BLOCK_SIZE = 32 << 20;
    static final long MAX_BYTES_IN_FLIGHT = 1L << 30;

    @Spec
    CommandSpec spec;

    @Mixin
    ExportUri uri;

    @Option(names = "--pattern", paramLabel = "PATTERN", defaultValue = "randread",
            description = "randread, randwrite, randrw (half each), read or write (sequential, wrapping at the "
                    + "end). (default: ${DEFAULT-VALUE})")
    AccessPattern pattern;

    @Option(names = "--bs", paramLabel = "SIZE", defaultValue = "4k", converter = SizeConverter.class,
            description = "Bytes per request (4k, 64k, 1M); offsets are multiples of it. (default: ${DEFAULT-VALUE})")
    long blockSize;

    @Option(names = "--qd", paramLabel = "N", defaultValue = "32",
            description = "Requests in flight in total. (default: ${DEFAULT-VALUE})")
    int queueDepth;

    @Option(names = "--connections", paramLabel = "N", defaultValue = "1",
            description = "NBD connections; the requests in flight are spread over them round-robin. "
                    + "(default: ${DEFAULT-VALUE})")
    int connections;

    @Option(names = "--duration", paramLabel = "TIME", defaultValue = "10s", converter = DurationConverter.class,
            description = "How long to measure (10s, 500ms, 2m). (default: ${DEFAULT-VALUE})")
    Duration duration;

    @Option(names = "--ramp", paramLabel = "TIME", defaultValue = "2s", converter = DurationConverter.class,
            description = "Unmeasured run before measuring, for warm-up; 0 to measure from the first request. "
                    + "(default: ${DEFAULT-VALUE})")
    Duration ramp;

    @Option(names = "--json", description = "Print the result as one JSON object.")
    boolean json;

    @Option(names = "--verify", description = "Remember what each write wrote and read it all back at the end.")
    boolean verify;

    @Option(names = "--force", description = "Let a writing pattern overwrite an export that holds data.")
    boolean force;

    @Override
    public Integer call() throws Exception {
        checkOptions();
        int perConnection = (queueDepth + connections - 1) / connections;
        ClientOptions options = ClientOptions.builder()
                .maxInFlight(Math.max(64, perConnection))
                .maxRequestSize(Math.max(4 << 20, (int) blockSize))
                .maxRetainedBytes((int) Math.max(64L << 20, perConnection * blockSize))
                // a benchmark that quietly reconnects and replays would report figures of a different run
                .reconnectWait(Duration.ZERO)
                // N independent clients (one network thread each) act as one writer: without a session option
                // rbd-server knows them by their source address; with no reconnects there is nothing to fence
                .fencing(false)
                // reading patterns take no writer slot on rbd-server
                .readOnly(!pattern.writes())
                // the data guard skips what BLOCK_STATUS reports as zeroes, where the server offers it
                .blockStatus(pattern.writes() && !force)
                .build();
        List<ExecutorService> executors = new ArrayList<>();
        RbdClient[] clients = new RbdClient[connections];
        try {
            for (int i = 0; i < connections; i++) {
                // one completion thread per connection: the common pool has a single thread on a 2-core machine
                ExecutorService executor = Executors.newSingleThreadExecutor(daemon("rbd-bench-" + i));
                executors.add(executor);
                clients[i] = OpenClients.connect(uri.text, options.toBuilder().callbackExecutor(executor).build());
            }
            BenchPlan plan = plan(clients[0].info());
            if (pattern.writes() && !force) {
                refuseIfHoldsData(clients[0]);
            }
            WrittenBlocks written = verify ? new WrittenBlocks(ThreadLocalRandom.current().nextLong(),
                    plan.blockSize()) : null;
            ClosedLoop.Totals t = new ClosedLoop(clients, plan, written).run();
            WrittenBlocks.Verification v = written == null ? null
                    : written.verify(clients, queueDepth, ClosedLoop.GRACE_SECONDS + written.size() / 1000);
            BenchResult result = new BenchResult(uri.text, plan, connections, t.reads(), t.writes(), t.latencyMicros(), v);
            spec.commandLine().getOut().print(json ? result.toJson() + System.lineSeparator() : result.toText());
            spec.commandLine().getOut().flush();
            if (v != null && v.mismatches() > 0) {
                throw new IllegalStateException("verify failed: " + v.mismatches() + " of " + v.blocks()
                        + " blocks differ from what was written, first at offset " + v.firstBadBlock() * blockSize);
            }
            return 0;
        } finally {
            for (RbdClient c : clients) {
                if (c != null) {
                    c.close();
                }
            }
            executors.forEach(ExecutorService::shutdown);
        }
    }

    /** Option combinations that cannot work whatever the export: usage errors (exit 2). */
    private void checkOptions() {
        if (blockSize < 1 || blockSize > MAX_BLOCK_SIZE) {
            throw usage("--bs " + blockSize + " (expected: 1 to " + Sizes.format(MAX_BLOCK_SIZE) + ")");
        }
        if (queueDepth < 1 || queueDepth > 1024) {
            throw usage("--qd " + queueDepth + " (expected: 1 to 1024)");
        }
        if (connections < 1 || connections > queueDepth) {
            throw usage("--connections " + connections + " (expected: 1 to --qd, " + queueDepth
                    + ": each connection needs a request in flight)");
        }
        if (queueDepth * blockSize > MAX_BYTES_IN_FLIGHT) {
            throw usage("--qd " + queueDepth + " x --bs " + Sizes.format(blockSize) + " is over "
                    + Sizes.format(MAX_BYTES_IN_FLIGHT) + " in flight");
        }
        if (duration.isZero() || duration.isNegative()) {
            throw usage("--duration must be more than 0");
        }
        if (verify && !pattern.writes()) {
            throw usage("--verify checks what was written; --pattern " + pattern + " writes nothing");
        }
    }

    /** What the export allows: failures (exit 1), since the same options suit another export. */
    private BenchPlan plan(ExportInfo info) {
        String export = "export '" + NbdUri.parse(uri.text).export() + "'";
        int bs = (int) blockSize;
        if (pattern.writes() && info.readOnly()) {
            throw new IllegalStateException(export + " is read-only; --pattern " + pattern
                    + " would write to it (use randread or read)");
        }
        if (bs > info.size()) {
            throw new IllegalStateException(export + " has " + info.size() + " bytes, less than --bs "
                    + Sizes.format(bs));
        }
        if (bs % info.minimumBlock() != 0) {
            throw new IllegalStateException("--bs " + Sizes.format(bs) + " is not a multiple of the "
                    + export + "'s minimum block size, " + info.minimumBlock());
        }
        if (bs > info.maxPayload()) {
            throw new IllegalStateException("--bs " + Sizes.format(bs) + " is larger than the "
                    + export + "'s largest request, " + Sizes.format(info.maxPayload()));
        }
        long blocks = info.size() / bs;
        if (verify && blocks <= queueDepth) {
            throw new IllegalStateException("--verify needs more blocks than --qd: " + export + " holds " + blocks
                    + " blocks of " + Sizes.format(bs));
        }
        return new BenchPlan(pattern, bs, blocks, queueDepth, ramp, duration);
    }

    /**
     * Refuses when any byte of the export is not zero: a benchmark's writes land all over it. Every byte that may
     * hold data is read ({@link DataScan}): all of them on rbd-server, the extents not reported as zeroes by
     * BLOCK_STATUS where the server offers it.
     */
    private void refuseIfHoldsData(RbdClient client) {
        long at = DataScan.firstNonZero(client, client.info().size());
        if (at >= 0) {
            throw new IllegalStateException("export '" + NbdString.printable(NbdUri.parse(uri.text).export())
                    + "' holds data (the first byte that is not zero is at offset " + at + "); --pattern " + pattern
                    + " would overwrite it: pass --force to do so");
        }
    }

    private ParameterException usage(String message) {
        return new ParameterException(spec.commandLine(), message);
    }

    private static ThreadFactory daemon(String name) {
        return r -> {
            Thread t = new Thread(r, name);
            t.setDaemon(true);
            return t;
        };
    }
}
