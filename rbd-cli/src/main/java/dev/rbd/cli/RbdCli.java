package dev.rbd.cli;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * The {@code rbd-cli} command. Exit codes: 0 done, 1 the operation failed, 2 usage error, 130 / 143 interrupted by
 * SIGINT / SIGTERM (after a clean disconnect); every error is one line on stderr.
 */
@Command(name = "rbd-cli", mixinStandardHelpOptions = true, versionProvider = RbdCliVersion.class,
        description = "Work with NBD exports from the command line.",
        subcommands = {InfoCommand.class, ListCommand.class, MapCommand.class, ReadCommand.class,
            WriteCommand.class, CopyCommand.class, FlushCommand.class, TrimCommand.class, ZeroCommand.class,
            BenchCommand.class},
        footer = {"", "Every URI is nbd://host[:port]/export or nbd+unix:///export?socket=PATH; nbds:// and nbds+unix://",
            "use TLS, with ?tls-certificates=DIR (ca-cert.pem, and client-cert.pem + client-key.pem to present one)",
            "and tls-verify-peer=false for testing; sizes are 4096, 4k, 1M, 2G.", "Exit status: 0 done, 1 the operation failed, 2 usage error,",
            "130 or 143 interrupted by SIGINT or SIGTERM (after a clean disconnect).", "", "Example:",
            "  rbd-cli info nbd://127.0.0.1:10809/disk"})
public final class RbdCli implements Runnable {
    private static final Logger log = LoggerFactory.getLogger(RbdCli.class);

    @Spec
    CommandSpec spec;

    public static void main(String[] args) {
        System.exit(OpenClients.exitingWith(commandLine().execute(OpenClients.disconnectOnSignal(args))));
    }

    @Override
    public void run() {
        throw new ParameterException(spec.commandLine(),
                "missing command (info, list, map, read, write, copy, flush, trim, zero, bench)");
    }

    /** The command line with rbd-cli's error handling: a usage error or a failure is reported in one line. */
    public static CommandLine commandLine() {
        return new CommandLine(new RbdCli())
                .setCaseInsensitiveEnumValuesAllowed(true)
                .setParameterExceptionHandler((e, args) -> {
                    CommandLine cmd = e.getCommandLine();
                    String name = cmd.getCommandSpec().qualifiedName();
                    cmd.getErr().println(name + ": " + e.getMessage() + " (see " + name + " --help)");
                    return cmd.getCommandSpec().exitCodeOnInvalidInput();
                })
                .setExecutionExceptionHandler((e, cmd, parsed) -> {
                    if (OpenClients.interrupted()) {
                        return cmd.getCommandSpec().exitCodeOnExecutionException(); // said once, by the hook
                    }
                    log.debug("{} failed", cmd.getCommandSpec().qualifiedName(), Failures.unwrap(e));
                    cmd.getErr().println(cmd.getCommandSpec().qualifiedName() + ": " + Failures.describe(e));
                    return cmd.getCommandSpec().exitCodeOnExecutionException();
                });
    }
}
