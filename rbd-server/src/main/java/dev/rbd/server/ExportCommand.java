package dev.rbd.server;

import dev.rbd.server.export.BlockSizes;
import dev.rbd.server.export.Export;
import dev.rbd.server.export.ServerConfig;
import dev.rbd.server.export.SyncMode;
import dev.rbd.server.store.FileBlockStore;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code rbd-server export IMAGE...}: serves images until SIGINT or SIGTERM. */
@Command(name = "export", mixinStandardHelpOptions = true,
        description = "Export one or more images over NBD, in the foreground, until SIGINT/SIGTERM.",
        footer = {"", "Examples:",
                "  rbd-server export --create 4G disk.img",
                "  rbd-server export /srv/usr.img --readonly",
                "  rbd-server export root=/dev/loop0 swap=/srv/swap.img --listen 127.0.0.1:10809 --unix /run/rbd.sock"})
public final class ExportCommand implements Callable<Integer> {
    private static final Logger log = LoggerFactory.getLogger(ExportCommand.class);

    @Parameters(arity = "1..*", paramLabel = "[NAME=]IMAGE",
            description = "Regular file or block device; the export name defaults to the file name without "
                    + "extension.")
    List<String> images;

    @Option(names = "--readonly", description = "Export read-only (any number of clients).")
    boolean readOnly;

    @Option(names = "--create", paramLabel = "SIZE",
            description = "Create a sparse image of SIZE (4G, 512M, ...) where the file is missing.")
    String create;

    @Option(names = "--listen", paramLabel = "HOST:PORT",
            description = "TCP address to listen on, repeatable; IPv6 as [::1]:10809 (default: 0.0.0.0:10809, "
                    + "none when only --unix is given).")
    List<String> listen = new ArrayList<>();

    @Option(names = "--unix", paramLabel = "PATH", description = "Also listen on a Unix socket.")
    Path unix;

    @Option(names = "--sync", paramLabel = "always|flush", defaultValue = "always",
            description = "always: a write is replied to only once it is on stable storage (group commit). "
                    + "flush: durable at FLUSH/FUA only, NBD's default. (default: ${DEFAULT-VALUE})")
    String sync;

    @Option(names = "--shared", description = "Let several clients write one export at once (cluster file systems).")
    boolean shared;

    @Option(names = "--min-block-size", paramLabel = "SIZE", defaultValue = "1",
            description = "Alignment clients must keep (power of 2); misaligned requests get EINVAL. "
                    + "(default: ${DEFAULT-VALUE})")
    String minBlock;

    @Option(names = "--max-payload", paramLabel = "SIZE", defaultValue = "32M",
            description = "Largest READ/WRITE payload. (default: ${DEFAULT-VALUE})")
    String maxPayload;

    @Option(names = "--io-threads", paramLabel = "N", description = "Threads doing disk I/O (default: max(8, 4 x cores)).")
    Integer ioThreads;

    @Option(names = "--handshake-timeout", paramLabel = "SECONDS", defaultValue = "10",
            description = "Drop clients that have not finished the handshake after this long. (default: ${DEFAULT-VALUE})")
    int handshakeTimeout;

    @Option(names = "--session-grace", paramLabel = "SECONDS", defaultValue = "60",
            description = "How long an rbd client that lost its connections keeps the writer lock to reconnect "
                    + "(default: ${DEFAULT-VALUE}; 0 releases it at once).")
    int sessionGrace;

    @Override
    public Integer call() throws Exception {
        SyncMode mode = switch (sync) {
            case "always" -> SyncMode.ALWAYS;
            case "flush" -> SyncMode.FLUSH;
            default -> throw new IllegalArgumentException("--sync must be always or flush, not '" + sync + "'");
        };
        int min = (int) Sizes.parse(minBlock);
        BlockSizes sizes = new BlockSizes(min, Math.max(4096, min), (int) Math.min(Sizes.parse(maxPayload),
                Integer.MAX_VALUE));
        List<Export> exports = new ArrayList<>();
        try {
            for (String spec : images) {
                exports.add(openExport(spec, mode, sizes));
            }
            List<InetSocketAddress> addresses = new ArrayList<>();
            for (String l : listen) {
                addresses.add(parseAddress(l));
            }
            if (addresses.isEmpty() && unix == null) {
                addresses.add(new InetSocketAddress("0.0.0.0", dev.rbd.protocol.NbdConstants.DEFAULT_PORT));
            }
            ServerConfig config = ServerConfig.defaults(addresses).withUnixSocket(unix)
                    .withHandshakeTimeout(Duration.ofSeconds(handshakeTimeout));
            if (ioThreads != null) {
                config = config.withIoThreads(ioThreads);
            }
            RbdServer server = new RbdServer(config, exports);
            exports = List.of(); // the server owns them now
            server.start();
            CountDownLatch stopped = new CountDownLatch(1);
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                server.close();
                stopped.countDown();
            }, "rbd-shutdown"));
            stopped.await();
            return 0;
        } finally {
            for (Export e : exports) {
                e.close();
            }
        }
    }

    private Export openExport(String spec, SyncMode mode, BlockSizes sizes) throws IOException {
        String name;
        Path path;
        int eq = spec.indexOf('=');
        if (eq > 0 && !spec.substring(0, eq).contains("/")) {
            name = spec.substring(0, eq);
            path = Path.of(spec.substring(eq + 1));
        } else {
            path = Path.of(spec);
            String file = path.getFileName().toString();
            int dot = file.lastIndexOf('.');
            name = dot > 0 ? file.substring(0, dot) : file;
        }
        if (create != null && !Files.exists(path)) {
            long size = Sizes.parse(create);
            FileBlockStore.createSparse(path, size);
            log.info("created sparse image {} of {} bytes", path, size);
        }
        FileBlockStore store = FileBlockStore.open(path, readOnly);
        if (store.size() % sizes.minimum() != 0) {
            log.warn("export '{}': size {} is not a multiple of the minimum block size {}; the tail is unreachable",
                    name, store.size(), sizes.minimum());
        }
        String description = store.describe() + (readOnly ? " (read-only)" : "");
        return Export.builder(name, store).description(description).readOnly(readOnly).shared(shared).syncMode(mode)
                .blockSizes(sizes).sessionGrace(Duration.ofSeconds(sessionGrace)).build();
    }

    static InetSocketAddress parseAddress(String s) throws UnknownHostException {
        String host;
        String port;
        if (s.startsWith("[")) {
            int close = s.indexOf(']');
            if (close < 0) {
                throw new IllegalArgumentException("bad address '" + s + "' (expected [IPv6]:PORT)");
            }
            host = s.substring(1, close);
            port = s.length() > close + 1 && s.charAt(close + 1) == ':' ? s.substring(close + 2) : "";
        } else {
            int colon = s.lastIndexOf(':');
            host = colon >= 0 ? s.substring(0, colon) : s;
            port = colon >= 0 ? s.substring(colon + 1) : "";
        }
        int p = port.isEmpty() ? dev.rbd.protocol.NbdConstants.DEFAULT_PORT : Integer.parseInt(port);
        if (p < 0 || p > 65535) {
            throw new IllegalArgumentException("bad port in '" + s + "'");
        }
        return new InetSocketAddress(host.isEmpty() ? InetAddress.getByName("0.0.0.0") : InetAddress.getByName(host),
                p);
    }
}
