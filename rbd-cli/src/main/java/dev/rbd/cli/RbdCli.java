package dev.rbd.cli;

import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * The {@code rbd-cli} command. Exit codes: 0 done, 1 the operation failed, 2 usage error; every error is one line
 * on stderr.
 */
@Command(name = "rbd-cli", mixinStandardHelpOptions = true, version = "rbd-cli 0.1.0",
        description = "Work with NBD exports from the command line.",
        subcommands = {BenchCommand.class, CopyCommand.class})
public final class RbdCli implements Runnable {
    private static final Logger log = LoggerFactory.getLogger(RbdCli.class);

    @Spec
    CommandSpec spec;

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    @Override
    public void run() {
        throw new ParameterException(spec.commandLine(), "missing command (bench, copy)");
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
                    Throwable t = e;
                    while ((t instanceof CompletionException || t instanceof ExecutionException) && t.getCause() != null) {
                        t = t.getCause();
                    }
                    log.debug("{} failed", cmd.getCommandSpec().qualifiedName(), t);
                    cmd.getErr().println(cmd.getCommandSpec().qualifiedName() + ": "
                            + (t.getMessage() != null ? t.getMessage() : t.toString()));
                    return cmd.getCommandSpec().exitCodeOnExecutionException();
                });
    }
}
