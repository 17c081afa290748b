package dev.rbd.cli;

import dev.rbd.client.ExportInfo;
import dev.rbd.client.RbdClient;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code rbd-cli read URI}: bytes of an export to stdout or a file. It streams: a few chunks are read at once and
 * written out in order, so a read of any length holds {@link #IN_FLIGHT} chunks at most.
 */
@Command(name = "read", mixinStandardHelpOptions = true, versionProvider = RbdCliVersion.class,
        description = "Read bytes of an export and write them, as they are, to stdout or a file.",
        footer = {"", "Example:", "  rbd-cli read nbd://127.0.0.1:10809/disk --offset 1M --length 4k | sha256sum"})
public final class ReadCommand implements Callable<Integer> {
    static final int CHUNK = 4 << 20;
    /** Chunks requested ahead of the one being written out. */
    static final int IN_FLIGHT = 4;
    /** What the JDK says when the reading end of a pipe was closed (EPIPE; the JVM ignores SIGPIPE). */
    static final String BROKEN_PIPE = "Broken pipe";

    @Mixin
    ConnectOptions connect;

    @Mixin
    ExportUri uri;

    @Option(names = "--offset", paramLabel = "SIZE", defaultValue = "0", converter = SizeConverter.class,
            description = "Where to start (4096, 4k, 1M, 2G). (default: ${DEFAULT-VALUE})")
    long offset;

    @Option(names = "--length", paramLabel = "SIZE", converter = SizeConverter.class,
            description = "How many bytes. (default: to the end of the export)")
    Long length;

    @Option(names = {"-o", "--output"}, paramLabel = "FILE",
            description = "Write to FILE (created or truncated) instead of stdout.")
    Path output;

    /** Where the bytes go when there is no {@code -o}; {@code null} means the process's stdout (tests set it). */
    OutputStream stdout;

    /** Bytes per request; package-private so tests can make many chunks of a small range. */
    int chunk = CHUNK;

    @Override
    public Integer call() throws IOException {
        try (RbdClient client = connect.connectReadOnly(uri.text)) {
            ExportInfo info = client.info();
            long n = length != null ? length : Math.max(0, info.size() - offset);
            Preflight.withinExport(info, offset, n);
            Preflight.aligned(info, offset, n);
            if (output != null) {
                try (OutputStream out = Files.newOutputStream(output)) {
                    copy(client, n, out);
                }
            } else {
                // stdout as a raw stream, bytes unchanged; a write to a closed pipe fails instead of being ignored
                OutputStream out = stdout != null ? stdout : new FileOutputStream(FileDescriptor.out);
                try {
                    copy(client, n, out);
                } catch (IOException e) {
                    if (!BROKEN_PIPE.equals(e.getMessage())) {
                        throw e;
                    }
                    // the reader has what it wanted (| head -c 512, | cmp): stop quietly, as cat does; a reader
                    // that failed reports that itself
                }
            }
        }
        return 0;
    }

    private void copy(RbdClient client, long n, OutputStream out) throws IOException {
        Deque<CompletableFuture<byte[]>> reads = new ArrayDeque<>();
        long next = 0;
        while (next < n || !reads.isEmpty()) {
            while (reads.size() < IN_FLIGHT && next < n) {
                int len = (int) Math.min(chunk, n - next);
                reads.add(client.read(offset + next, len));
                next += len;
            }
            out.write(reads.remove().join());
        }
        out.flush();
    }
}
