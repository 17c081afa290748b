package dev.rbd.cli;

import dev.rbd.client.ExportEntry;
import dev.rbd.client.RbdClient;
import dev.rbd.protocol.NbdString;
import java.io.PrintWriter;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code rbd-cli list nbd://host[:port]}: the exports a server offers, with their descriptions. */
@Command(name = "list", mixinStandardHelpOptions = true, versionProvider = RbdCliVersion.class,
        description = "List the exports of a server (NBD_OPT_LIST), with their descriptions.",
        footer = {"", "Example:", "  rbd-cli list nbd://127.0.0.1:10809 --json"})
public final class ListCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    ConnectOptions connect;

    @Parameters(index = "0", paramLabel = "URI", converter = NbdUriConverter.class,
            description = "nbd[s]://host[:port] or nbd[s]+unix:///?socket=PATH (an export name in it is ignored)")
    String uri;

    @Option(names = "--json", description = "Print one JSON object: {\"exports\":[{\"name\":..,\"description\":..}]}.")
    boolean json;

    @Override
    public Integer call() {
        List<ExportEntry> exports = RbdClient.listExports(uri, connect.options());
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            out.println(exports.stream()
                    .map(e -> "{\"name\":" + BenchResult.string(e.name()) + ",\"description\":"
                            + BenchResult.string(e.description()) + "}")
                    .collect(Collectors.joining(",", "{\"exports\":[", "]}")));
        } else {
            for (ExportEntry e : exports) {
                out.println("export=" + BenchResult.string(e.name()) + ":");
                out.println("\tdescription: " + NbdString.printable(e.description()));
            }
        }
        out.flush();
        return 0;
    }
}
