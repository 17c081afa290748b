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
        System.exit(commandLine().execute(args));
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
