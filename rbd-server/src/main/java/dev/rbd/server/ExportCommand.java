package dev.rbd.server;

import dev.rbd.protocol.NbdString;
import dev.rbd.protocol.Sizes;
import dev.rbd.server.export.BlockSizes;
import dev.rbd.server.export.ConfigFile;
import dev.rbd.server.export.Export;
import dev.rbd.server.export.ExportSpec;
import dev.rbd.server.export.AccessRules;
import dev.rbd.server.export.Limits;
import dev.rbd.server.export.ServerConfig;
import dev.rbd.server.export.SyncMode;
import dev.rbd.server.export.TlsConfig;
import dev.rbd.server.store.FileBlockStore;
import dev.rbd.server.store.GoldenFingerprint;
import dev.rbd.server.store.PersistentOverlay;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code rbd-server export IMAGE...}: serves images until SIGINT or SIGTERM. */
@Command(name = "export", mixinStandardHelpOptions = true, versionProvider = RbdServerVersion.class,
        description = "Export one or more images over NBD, in the foreground, until SIGINT/SIGTERM.",
        footer = {"", "Sizes are 4096, 4k, 512M, 4G, 1T (powers of 1024).",
                "Durations are 500ms, 30s, 5m, 1h, or a bare number of seconds; a timeout may also be off.",
                "Exit status: 0 stopped by a signal, 1 the server failed, 2 usage error.", "", "Examples:",
                "  rbd-server export --create 4G disk.img",
                "  rbd-server export /srv/usr.img --readonly",
                "  rbd-server export root=/dev/loop0 swap=/srv/swap.img --listen 127.0.0.1:10809 --unix /run/rbd.sock",
                "  rbd-server export root=/srv/root.img,allow=10.0.0.0/8,allow=cn:host42",
                "  rbd-server export 'usr=/srv/usr.img,ro,description=Shared /usr' root=/srv/root.img",
                "  rbd-server export kiosk=/srv/kiosk.img,overlays=temp",
                "  rbd-server export root=/srv/root-golden.img,overlays=/srv/overlays",
                "  rbd-server overlays list /srv/overlays",
                "  rbd-server export --config /etc/rbd/exports.conf",
                "  rbd-server export disk.img --tls require --tls-certificates /etc/rbd/pki"})
public final class ExportCommand implements Callable<Integer> {
    private static final Logger log = LoggerFactory.getLogger(ExportCommand.class);

    @Spec
    CommandSpec spec;

    @Parameters(arity = "0..*", paramLabel = "[NAME=]IMAGE[,OPTION]...",
            description = "Regular file or block device; the export name defaults to the file name without "
                    + "extension. Options: allow=RULE (repeatable): only peers a rule names may use this export, "
                    + "a rule being ADDRESS[/PREFIX], uid:N or cn:IDENTITY (a TLS client certificate's subject CN); "
                    + "ro: this export read-only; description=TEXT: what clients are told about it (default: its "
                    + "name and size); overlays=temp: every connection writes to its own temporary overlay over "
                    + "the image, which is never written, and what it wrote is gone when it disconnects "
                    + "(kiosk mode; clients may open NAME or NAME/CLIENT); overlays=DIR: a client opening "
                    + "NAME/CLIENT (CLIENT: 1-64 of A-Z a-z 0-9 . _ -) gets its own persistent overlay in DIR over "
                    + "the image, which is never written, and NAME alone serves the image read-only (see "
                    + "'rbd-server overlays'); clients=cn: NAME/CLIENT only for the TLS client certificate whose CN is "
                    + "CLIENT (needs --tls-verify-peer). A comma in the path or a value is "
                    + "written twice (a,,b).")
    List<String> images = new ArrayList<>();

    @Option(names = "--config", paramLabel = "FILE",
            description = "More exports, from a file of [export NAME] sections with path = IMAGE, ro = true, "
                    + "description = TEXT, allow = RULE, overlays = temp|DIR and clients = cn lines (# comments); see "
                    + "docs/operations.md.")
    Path config;

    @Option(names = "--readonly", description = "Export every image read-only (any number of clients).")
    boolean readOnly;

    @Option(names = "--create", paramLabel = "SIZE", converter = SizeConverter.class,
            description = "Create a sparse image of SIZE (4G, 512M, ...) where the file is missing.")
    Long create;

    @Option(names = "--listen", paramLabel = "HOST:PORT", converter = ListenAddressConverter.class,
            description = "TCP address to listen on, repeatable; IPv6 as [::1]:10809 (default: 0.0.0.0:10809, "
                    + "none when only --unix is given).")
    List<InetSocketAddress> listen = new ArrayList<>();

    @Option(names = "--unix", paramLabel = "PATH", description = "Also listen on a Unix socket.")
    Path unix;

    @Option(names = "--sync", paramLabel = "always|flush", defaultValue = "always",
            description = "always: a write is replied to only once it is on stable storage (group commit). "
                    + "flush: durable at FLUSH/FUA only, NBD's default. (default: ${DEFAULT-VALUE})")
    SyncMode sync;

    @Option(names = "--shared", description = "Let several clients write one export at once (cluster file systems).")
    boolean shared;

    @Option(names = "--min-block-size", paramLabel = "SIZE", defaultValue = "1", converter = SizeConverter.class,
            description = "Alignment clients must keep (power of 2); misaligned requests get EINVAL. "
                    + "(default: ${DEFAULT-VALUE})")
    long minBlock;

    @Option(names = "--max-payload", paramLabel = "SIZE", defaultValue = "64M", converter = SizeConverter.class,
            description = "Largest READ/WRITE payload; larger ones are streamed in 2 MiB parts. (default: "
                    + "${DEFAULT-VALUE})")
    long maxPayload;

    @Option(names = "--io-threads", paramLabel = "N", description = "Threads doing disk I/O (default: max(8, 4 x cores)).")
    Integer ioThreads;

    @Option(names = "--handshake-timeout", paramLabel = "DURATION", defaultValue = "10",
            converter = DurationConverter.class,
            description = "Drop clients that have not finished the handshake after this long. (default: ${DEFAULT-VALUE})")
    Duration handshakeTimeout;

    @Option(names = "--session-grace", paramLabel = "DURATION", defaultValue = "60", converter = DurationConverter.class,
            description = "How long an rbd client that lost its connections keeps the writer lock to reconnect "
                    + "(default: ${DEFAULT-VALUE}; 0 releases it at once).")
    Duration sessionGrace;

    @Option(names = "--overlay-idle", paramLabel = "DURATION", defaultValue = "30s",
            converter = DurationConverter.class,
            description = "overlays=DIR: close a client's overlay once no connection has used it for this long; "
                    + "until then 'rbd-server overlays reset/commit' refuse it. Never less than the handshake "
                    + "timeout + 1 s, so an overlay is not closed under a client still negotiating. "
                    + "(default: ${DEFAULT-VALUE})")
    Duration overlayIdle;

    @Option(names = "--max-overlays", paramLabel = "N", defaultValue = "1024",
            description = "overlays=DIR: at most N clients' overlays in an export's DIR (and open at once); a new "
                    + "client beyond that is refused, so no client can fill the disk with overlays under made-up "
                    + "names. (default: ${DEFAULT-VALUE})")
    int maxOverlays;

    @Option(names = "--max-connections", paramLabel = "N", defaultValue = "256",
            description = "Connections open at once, handshaking ones included; more are refused. "
                    + "(default: ${DEFAULT-VALUE})")
    int maxConnections;

    @Option(names = "--max-connections-per-address", paramLabel = "N", defaultValue = "64",
            description = "Connections open at once from one TCP source address. (default: ${DEFAULT-VALUE})")
    int maxConnectionsPerAddress;

    @Option(names = "--idle-timeout", paramLabel = "DURATION", defaultValue = "off",
            converter = DurationConverter.OrOff.class,
            description = "Close a connection on which no request arrived and no reply was sent for this long "
                    + "(a half-sent request counts as idle). (default: ${DEFAULT-VALUE})")
    Duration idleTimeout;

    @Option(names = "--stall-timeout", paramLabel = "DURATION", defaultValue = "60s",
            converter = DurationConverter.OrOff.class,
            description = "Close a connection that stops sending in the middle of a request, or stops reading its "
                    + "replies, for this long. (default: ${DEFAULT-VALUE})")
    Duration stallTimeout;

    @Option(names = "--allow", paramLabel = "CIDR",
            description = "Let only these peers connect (repeatable): ADDRESS, ADDRESS/PREFIX (IPv4 or IPv6) or uid:N "
                    + "for a Unix-socket peer's user. With any --allow or --allow-file, everyone else is refused "
                    + "before the greeting. Rules for one export (and cn:IDENTITY rules) go after its path: allow=RULE.")
    List<String> allow = new ArrayList<>();

    @Option(names = "--allow-file", paramLabel = "FILE",
            description = "More --allow rules, one a line (# comments). A file that cannot be read, or holds a bad "
                    + "line or no rule, refuses everyone.")
    Path allowFile;

    @Option(names = "--tls", paramLabel = "off|on|require", defaultValue = "off",
            description = "STARTTLS: off (not offered), on (plaintext and TLS clients), require (TLS clients only). "
                    + "(default: ${DEFAULT-VALUE})")
    TlsConfig.Mode tls;

    @Option(names = "--tls-certificates", paramLabel = "DIR",
            description = "Directory with server-cert.pem, server-key.pem (unencrypted PEM) and ca-cert.pem, as "
                    + "nbdkit, qemu and libnbd use; scripts/make-pki.sh makes one.")
    Path tlsCertificates;

    @Option(names = "--tls-verify-peer",
            description = "Clients must present a certificate signed by ca-cert.pem; its CN is the client's identity.")
    boolean tlsVerifyPeer;

    @Override
    public Integer call() throws Exception {
        BlockSizes sizes = blockSizes();
        if (maxOverlays < 1) {
            throw usage("--max-overlays " + maxOverlays + " (expected: at least 1)");
        }
        if (ioThreads != null && ioThreads < 1) {
            throw usage("--io-threads " + ioThreads + " (expected: at least 1)");
        }
        Limits limits = limits();
        AccessRules access = access();
        TlsConfig tlsConfig = tlsConfig();
        List<Export> exports = exports(sizes);
        try {
            List<InetSocketAddress> addresses = new ArrayList<>(listen);
            if (addresses.isEmpty() && unix == null) {
                addresses.add(new InetSocketAddress("0.0.0.0", dev.rbd.protocol.NbdConstants.DEFAULT_PORT));
            }
            ServerConfig config = ServerConfig.defaults(addresses).withUnixSocket(unix)
                    .withHandshakeTimeout(handshakeTimeout).withLimits(limits).withAccess(access)
                    .withTls(tlsConfig);
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

    /** The block sizes the options ask for; ones that cannot go together are a usage error. */
    BlockSizes blockSizes() {
        // clamped, not cast: a cast would turn 4G + 1 into a valid-looking 1
        int min = (int) Math.min(minBlock, Integer.MAX_VALUE);
        try {
            return new BlockSizes(min, Math.max(4096, min), (int) Math.min(maxPayload, Integer.MAX_VALUE));
        } catch (IllegalArgumentException e) {
            throw usage("--min-block-size " + Sizes.format(minBlock) + " with --max-payload "
                    + Sizes.format(maxPayload) + ": " + e.getMessage());
        }
    }

    /** The access rules the options give; a bad --allow is a usage error, a bad allow file refuses everyone. */
    AccessRules access() {
        List<AccessRules.Rule> rules = new ArrayList<>();
        for (String a : allow) {
            try {
                rules.add(AccessRules.parse(a));
            } catch (IllegalArgumentException e) {
                throw usage("--allow: " + e.getMessage());
            }
        }
        return allowFile != null ? AccessRules.read(allowFile, rules) : AccessRules.of(rules);
    }

    /** The TLS options together; ones that cannot go together are a usage error. */
    TlsConfig tlsConfig() {
        if (tls != TlsConfig.Mode.OFF && tlsCertificates == null) {
            throw usage("--tls " + tls.name().toLowerCase(Locale.ROOT) + " needs --tls-certificates DIR");
        }
        if (tls == TlsConfig.Mode.OFF && tlsVerifyPeer) {
            throw usage("--tls-verify-peer needs --tls on or --tls require");
        }
        return tls == TlsConfig.Mode.OFF ? TlsConfig.OFF : new TlsConfig(tls, tlsCertificates, tlsVerifyPeer);
    }

    /**
     * The exports the arguments and the {@code --config} file name, with their options, the command line's first.
     * A bad or unknown option, a bad line of the file, two exports of one name or no export at all are usage
     * errors.
     *
     * @throws IOException the config file cannot be read
     */
    List<ExportSpec> exportSpecs() throws IOException {
        List<ExportSpec> specs = new ArrayList<>();
        Set<String> names = new HashSet<>();
        for (String image : images) {
            ExportSpec s;
            try {
                s = ExportSpec.parse(image);
            } catch (IllegalArgumentException e) {
                throw usage(e.getMessage());
            }
            if (!names.add(s.name())) {
                throw usage("two exports are named '" + NbdString.printable(s.name()) + "'");
            }
            checkOverlays(s);
            specs.add(s);
        }
        if (config != null) {
            List<ExportSpec> fromFile;
            try {
                fromFile = ConfigFile.read(config);
            } catch (IllegalArgumentException e) {
                throw usage("--config " + e.getMessage());
            }
            for (ExportSpec s : fromFile) {
                if (!names.add(s.name())) {
                    throw usage("export '" + NbdString.printable(s.name()) + "' is named both on the command line "
                            + "and in " + config);
                }
                checkOverlays(s);
                specs.add(s);
            }
        }
        if (specs.isEmpty()) {
            throw usage(config == null ? "no export: name an [NAME=]IMAGE or give --config FILE"
                    : "no export: " + config + " holds no [export NAME] section and the command line names none");
        }
        return specs;
    }

    /** Overlays are written: an export with them cannot be read-only, not even by --readonly. */
    private void checkOverlays(ExportSpec s) {
        if (s.clientsByIdentity() && !tlsVerifyPeer) {
            throw usage("export '" + NbdString.printable(s.name()) + "': clients=cn needs --tls-verify-peer (the "
                    + "client's certificate CN names its overlay)");
        }
        if (readOnly && (s.temporaryOverlays() || s.overlayDir() != null)) {
            throw usage("export '" + NbdString.printable(s.name()) + "': overlays="
                    + (s.temporaryOverlays() ? "temp" : NbdString.printable(s.overlayDir().toString()))
                    + " with --readonly (every export "
                    + "read-only); clients write to their overlays, the image itself is never written");
        }
    }

    /**
     * The exports opened, as {@link #exportSpecs} gives them; on a failure those already opened are closed.
     *
     * @throws IOException an image or the config file cannot be opened
     */
    List<Export> exports(BlockSizes sizes) throws IOException {
        List<ExportSpec> specs = exportSpecs();
        List<Export> exports = new ArrayList<>();
        try {
            for (ExportSpec s : specs) {
                exports.add(openExport(s, sync, sizes));
            }
            return exports;
        } catch (IOException | RuntimeException e) {
            for (Export x : exports) {
                x.close();
            }
            throw e;
        }
    }

    /**
     * What clients are told about an export that gave no {@code description=}: its name and size, and whether it is
     * read-only. Never its path: that tells a client about the server's file system.
     */
    static String defaultDescription(String name, long size, boolean readOnly) {
        String bytes = Sizes.format(size);
        if (size % 1024 != 0 || size == 0) {
            bytes += " bytes";
        }
        return "rbd export " + name + ", " + bytes + (readOnly ? ", read-only" : "");
    }

    /** The connection limits and timeouts the options ask for. */
    Limits limits() {
        if (maxConnections < 1) {
            throw usage("--max-connections " + maxConnections + " (expected: at least 1)");
        }
        if (maxConnectionsPerAddress < 1) {
            throw usage("--max-connections-per-address " + maxConnectionsPerAddress + " (expected: at least 1)");
        }
        return new Limits(maxConnections, maxConnectionsPerAddress, idleTimeout, stallTimeout);
    }

    /** How long a client's unused overlay stays open: {@code --overlay-idle}, at least the handshake timeout + 1 s. */
    Duration overlayIdle() {
        Duration floor = handshakeTimeout.plusSeconds(1);
        return overlayIdle.compareTo(floor) < 0 ? floor : overlayIdle;
    }

    private ParameterException usage(String message) {
        return new ParameterException(spec.commandLine(), message);
    }

    private Export openExport(ExportSpec image, SyncMode mode, BlockSizes sizes) throws IOException {
        String name = image.name();
        Path path = image.path();
        if (create != null && !Files.exists(path)) {
            FileBlockStore.createSparse(path, create);
            log.info("created sparse image {} of {} bytes", path, create);
        }
        boolean ro = readOnly || image.readOnly();
        // the golden image of temporary overlays is opened read-only: it is never written
        Path overlays = image.overlayDir();
        if (overlays != null) {
            PersistentOverlay.checkDirectory(overlays);
        }
        FileBlockStore store = FileBlockStore.open(path, ro || image.temporaryOverlays() || overlays != null);
        if (store.size() % sizes.minimum() != 0) {
            log.warn("export '{}': size {} is not a multiple of the minimum block size {}; the tail is unreachable",
                    name, store.size(), sizes.minimum());
        }
        if (!image.access().rules().isEmpty()) {
            log.info("export '{}': only for {}", name, image.access().rules());
        }
        String description = image.description() != null ? image.description()
                : defaultDescription(name, store.size(), ro) + (overlays != null ? ", an overlay per client" : "");
        Export.Builder b = Export.builder(name, store).description(description).readOnly(ro).shared(shared)
                .syncMode(mode).blockSizes(sizes).sessionGrace(sessionGrace).access(image.access())
                .temporaryOverlays(image.temporaryOverlays() ? Path.of(System.getProperty("java.io.tmpdir")) : null);
        if (overlays != null) {
            try {
                b.persistentOverlays(overlays, path, GoldenFingerprint.of(path))
                        .clientsByIdentity(image.clientsByIdentity())
                        .overlayIdle(overlayIdle()).maxOpenOverlays(maxOverlays);
            } catch (IOException | RuntimeException e) {
                store.close();
                throw e;
            }
            log.info("export '{}': a persistent overlay per client in {} (open {}/CLIENT)", name, overlays, name);
        }
        return b.build();
    }
}
