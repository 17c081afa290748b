package dev.rbd.server;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * The {@code rbd-server} command. Exit codes, as rbd-cli's: 0 done, 1 the server failed, 2 usage error; every error
 * is one line on stderr.
 */
@Command(name = "rbd-server", mixinStandardHelpOptions = true, versionProvider = RbdServerVersion.class,
        description = "Serve block images over NBD.", subcommands = {ExportCommand.class, OverlaysCommand.class},
        footer = {"", "Exit status: 0 done, 1 failed (the server, or an overlays command), 2 usage error.", "",
            "Examples:",
            "  rbd-server export --create 4G disk.img",
            "  rbd-server overlays list /srv/overlays"})
public final class RbdServerMain implements Runnable {
    @Spec
    CommandSpec spec;

    public static void main(String[] args) {
        cacheLargeBuffers();
        System.exit(commandLine().execute(args));
    }

    /** The largest buffer the pool's per-thread caches keep: a read part ({@code RequestDecoder.FILL_LIMIT}). */
    static final String MAX_CACHED = "2097152";

    /**
     * Lets the buffer pool's per-thread caches keep buffers up to 2 MiB (Netty's default: 32 KiB), unless
     * {@code io.netty.allocator.maxCachedBufferCapacity} is set. Must run before Netty's pooled allocator is loaded,
     * which reads it once. Without it, every 1 MiB read buffer went back to its pool chunk, chunks kept emptying, and
     * the pool freed them and soon allocated and zeroed new ones: 16-20% of the server's CPU under 32 clients reading
     * 1 MiB at a time. With it, the same boot storm read 1.5-1.7x as much per second in alternating runs on a quiet
     * machine (2.0-2.1 to 3.0-3.5 GB/s). Caches hold at most {@link RbdServer#NORMAL_CACHE_SIZE} buffers of each size
     * per thread and give back what goes unused.
     */
    static void cacheLargeBuffers() {
        if (System.getProperty("io.netty.allocator.maxCachedBufferCapacity") == null) {
            System.setProperty("io.netty.allocator.maxCachedBufferCapacity", MAX_CACHED);
        }
    }

    @Override
    public void run() {
        throw new ParameterException(spec.commandLine(), "missing command (export, overlays)");
    }

    /** The command line with rbd-server's error handling: a usage error or a failure is reported in one line. */
    static CommandLine commandLine() {
        return new CommandLine(new RbdServerMain())
                .setCaseInsensitiveEnumValuesAllowed(true)
                .setParameterExceptionHandler((e, args) -> {
                    CommandLine cmd = e.getCommandLine();
                    String name = cmd.getCommandSpec().qualifiedName();
                    cmd.getErr().println(name + ": " + e.getMessage() + " (see " + name + " --help)");
                    return cmd.getCommandSpec().exitCodeOnInvalidInput();
                })
                .setExecutionExceptionHandler((e, cmd, parsed) -> {
                    cmd.getErr().println(cmd.getCommandSpec().qualifiedName() + ": "
                            + (e.getMessage() != null ? e.getMessage() : e.toString()));
                    return cmd.getCommandSpec().exitCodeOnExecutionException();
                });
    }
}
