package dev.rbd.server;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code rbd-server} command. */
@Command(name = "rbd-server", mixinStandardHelpOptions = true, version = "rbd-server 0.1.0",
        description = "Serve block images over NBD.", subcommands = ExportCommand.class)
public final class RbdServerMain {
    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    static CommandLine commandLine() {
        return new CommandLine(new RbdServerMain()).setExecutionExceptionHandler((e, cmd, parsed) -> {
            cmd.getErr().println("rbd-server: " + (e.getMessage() != null ? e.getMessage() : e.toString()));
            return 1;
        });
    }
}
