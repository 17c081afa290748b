package dev.rbd.cli;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Supplier;
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
        footer = {"", "Every URI is nbd://host[:port]/export or nbd+unix:///export?socket=PATH; nbds:// and nbds+unix://",
            "use TLS, with ?tls-certificates=DIR (ca-cert.pem, and client-cert.pem + client-key.pem to present one)",
            "and tls-verify-peer=false for testing; sizes are 4096, 4k, 1M, 2G.", "Exit status: 0 done, 1 the operation failed, 2 usage error,",
            "130 or 143 interrupted by SIGINT or SIGTERM (after a clean disconnect).", "", "Example:",
            "  rbd-cli info nbd://127.0.0.1:10809/disk"})
public final class RbdCli implements Runnable {
    /**
     * The commands, in the order help lists them. Built only when asked for: picocli reads each command's
     * annotations by reflection, and a short command need not pay for the other nine (issue 14).
     */
    private static final Map<String, Supplier<Object>> COMMANDS = new LinkedHashMap<>();

    static {
        COMMANDS.put("info", InfoCommand::new);
        COMMANDS.put("list", ListCommand::new);
        COMMANDS.put("map", MapCommand::new);
        COMMANDS.put("read", ReadCommand::new);
        COMMANDS.put("write", WriteCommand::new);
        COMMANDS.put("copy", CopyCommand::new);
        COMMANDS.put("flush", FlushCommand::new);
        COMMANDS.put("trim", TrimCommand::new);
        COMMANDS.put("zero", ZeroCommand::new);
        COMMANDS.put("bench", BenchCommand::new);
    }

    @Spec
    CommandSpec spec;

    public static void main(String[] args) {
        // Netty's buffer events for Flight Recorder: looking whether they are enabled loads jdk.jfr, some 0.1-0.3 s
        // of a short command; -Dio.netty.jfr.enabled=true (RBD_JAVA_OPTS) turns them back on.
        if (System.getProperty("io.netty.jfr.enabled") == null) {
            System.setProperty("io.netty.jfr.enabled", "false");
        }
        System.exit(OpenClients.exitingWith(commandLine(args).execute(OpenClients.disconnectOnSignal(args))));
    }

    @Override
    public void run() {
        throw new ParameterException(spec.commandLine(),
                "missing command (info, list, map, read, write, copy, flush, trim, zero, bench)");
    }

    /** The command line with every command and rbd-cli's error handling (see {@link #commandLine(String...)}). */
    public static CommandLine commandLine() {
        return commandLine(new String[0]);
    }

    /**
     * The command line for these arguments, with rbd-cli's error handling: a usage error or a failure is reported
     * in one line. When the first argument names a command, only that command is built, and none for a lone
     * {@code --version}; otherwise (help, a misspelt command that picocli suggests a name for) all of them are.
     */
    public static CommandLine commandLine(String... args) {
        CommandLine cl = new CommandLine(new RbdCli());
        Supplier<Object> only = args.length > 0 ? COMMANDS.get(args[0]) : null;
        if (only != null) {
            cl.addSubcommand(args[0], only.get());
        } else if (!(args.length == 1 && (args[0].equals("--version") || args[0].equals("-V")))) {
            COMMANDS.forEach((name, command) -> cl.addSubcommand(name, command.get()));
        }
        return cl
                .setCaseInsensitiveEnumValuesAllowed(true)
                .setParameterExceptionHandler((e, given) -> {
                    CommandLine cmd = e.getCommandLine();
                    String name = cmd.getCommandSpec().qualifiedName();
                    cmd.getErr().println(name + ": " + e.getMessage() + " (see " + name + " --help)");
                    return cmd.getCommandSpec().exitCodeOnInvalidInput();
                })
                .setExecutionExceptionHandler((e, cmd, parsed) -> {
                    if (OpenClients.interrupted()) {
                        return cmd.getCommandSpec().exitCodeOnExecutionException(); // said once, by the hook
                    }
                    LoggerFactory.getLogger(RbdCli.class)
                            .debug("{} failed", cmd.getCommandSpec().qualifiedName(), Failures.unwrap(e));
                    cmd.getErr().println(cmd.getCommandSpec().qualifiedName() + ": " + Failures.describe(e));
                    return cmd.getCommandSpec().exitCodeOnExecutionException();
                });
    }
}
