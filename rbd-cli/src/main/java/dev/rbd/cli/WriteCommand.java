package dev.rbd.cli;

import dev.rbd.client.ExportInfo;
import dev.rbd.client.RbdClient;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Deque;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code rbd-cli write URI}: stdin or a file into an export at an offset. It streams: a chunk is read from the
 * input while the ones before it are in flight, {@link ReadCommand#IN_FLIGHT} at most.
 */
@Command(name = "write", mixinStandardHelpOptions = true, versionProvider = RbdCliVersion.class,
        description = "Write stdin (or a file) into an export at an offset, as it is.",
        footer = {"", "Example:", "  head -c 1M /dev/urandom | rbd-cli write nbd://127.0.0.1:10809/disk --offset 4k --sync"})
public final class WriteCommand implements Callable<Integer> {
    @Mixin
    ConnectOptions connect;

    @Mixin
    ExportUri uri;

    @Option(names = "--offset", paramLabel = "SIZE", defaultValue = "0", converter = SizeConverter.class,
            description = "Where to start writing (4096, 4k, 1M, 2G). (default: ${DEFAULT-VALUE})")
    long offset;

    @Option(names = {"-i", "--input"}, paramLabel = "FILE", description = "Read from FILE instead of stdin.")
    Path input;

    @Option(names = "--sync", description = "Return only once the data is on stable storage (a FLUSH at the end, "
            + "unless the server's acks are durable already).")
    boolean sync;

    /** What is written when there is no {@code -i}; {@code null} means the process's stdin (tests set it). */
    InputStream stdin;

    /** Bytes per request; package-private so tests can make many chunks of a small input. */
    int chunk = ReadCommand.CHUNK;

    @Override
    public Integer call() throws IOException {
        try (RbdClient client = connect.connect(uri.text)) {
            ExportInfo info = client.info();
            Preflight.writable(info);
            Preflight.withinExport(info, offset, 0);
            Preflight.aligned(info, offset, 0);
            if (sync && !info.durableAcks() && !info.canFlush()) {
                throw new IllegalStateException(Preflight.export(info) + " cannot flush (the server did not "
                        + "advertise send_flush), so --sync cannot be kept");
            }
            if (input != null) {
                if (Files.isRegularFile(input)) {
                    // a file's length is known: refuse before writing any of it
                    long size = Files.size(input);
                    Preflight.withinExport(info, offset, size);
                    Preflight.aligned(info, offset, size);
                }
                try (InputStream in = Files.newInputStream(input)) {
                    copy(client, info, in);
                }
            } else {
                copy(client, info, stdin != null ? stdin : System.in);
            }
            if (sync && !info.durableAcks()) {
                // NBD's FLUSH covers the writes already answered, which copy() waited for
                client.flush().join();
            }
        }
        return 0;
    }

    private void copy(RbdClient client, ExportInfo info, InputStream in) throws IOException {
        Deque<CompletableFuture<Void>> writes = new ArrayDeque<>();
        long done = 0;
        try {
            while (true) {
                // a fresh array each time: the client needs it unchanged until its write is answered
                byte[] data = new byte[chunk];
                int n = in.readNBytes(data, 0, chunk);
                if (n == 0) {
                    break;
                }
                try {
                    Preflight.withinExport(info, offset + done, n);
                } catch (IllegalStateException e) {
                    drain(writes);
                    throw new IllegalStateException("the input is longer than the export: " + e.getMessage()
                            + (done == 0 ? "; nothing was written" : "; its first " + Preflight.size(done)
                            + " bytes were written"));
                }
                Preflight.aligned(info, offset + done, n);
                if (writes.size() == ReadCommand.IN_FLIGHT) {
                    writes.remove().join();
                }
                writes.add(client.write(offset + done, n == chunk ? data : Arrays.copyOf(data, n)));
                done += n;
            }
        } catch (RuntimeException | IOException e) {
            // what is in flight still finishes before the command reports the first failure
            try {
                drain(writes);
            } catch (RuntimeException also) {
                e.addSuppressed(also);
            }
            throw e;
        }
        drain(writes);
    }

    /** Waits for every write sent; the first failure is thrown once all have finished. */
    private static void drain(Deque<CompletableFuture<Void>> writes) {
        CompletableFuture<Void> all = CompletableFuture.allOf(writes.toArray(new CompletableFuture<?>[0]));
        writes.clear();
        all.join();
    }
}
