package dev.rbd.cli;

import dev.rbd.client.RbdClient;
import java.io.PrintWriter;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code rbd-cli map URI}: the export's allocation extents, in the format of {@code nbdinfo --map}. */
@Command(name = "map", mixinStandardHelpOptions = true, versionProvider = RbdCliVersion.class,
        description = {"Show which ranges of an export hold data and which are holes or read as zeroes, from the "
                + "server's BLOCK_STATUS (base:allocation), in the format of nbdinfo --map: offset, length, type "
                + "(0 data, 1 hole, 2 zero, 3 hole,zero) and its description, one line per extent, adjacent "
                + "extents of the same type merged.",
                "A server without block status (rbd-server before it offers it, nbd-server) gives one data extent "
                        + "for the whole export."},
        footer = {"", "Examples:", "  rbd-cli map nbd://127.0.0.1:10809/disk",
                "  rbd-cli map nbd://127.0.0.1:10809/disk --json"})
public final class MapCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    ConnectOptions connect;

    @Mixin
    ExportUri uri;

    @Option(names = "--json", description = "Print a JSON list of objects with the keys offset, length, type and "
            + "description, as nbdinfo --map --json does.")
    boolean json;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        try (RbdClient client = connect.connectForBlockStatus(uri.text)) {
            boolean[] first = {true};
            if (json) {
                out.print("[\n");
            }
            new ExtentWalk(client).forEach(r -> {
                out.print(json ? (first[0] ? "" : ",\n") + toJson(r) : toText(r));
                first[0] = false;
            });
            if (json) {
                out.print("\n]\n");
            }
        } finally {
            out.flush();
        }
        return 0;
    }

    /** nbdinfo's line: {@code %10u  %10u  %3u  description}; an unknown type has no description. */
    static String toText(ExtentWalk.Range r) {
        String d = description(r.flags());
        return String.format(Locale.ROOT, "%10d  %10d  %3d", r.offset(), r.length(), Integer.toUnsignedLong(r.flags()))
                + (d == null ? "" : "  " + d) + "\n";
    }

    static String toJson(ExtentWalk.Range r) {
        String d = description(r.flags());
        return "{ \"offset\": " + r.offset() + ", \"length\": " + r.length() + ", \"type\": "
                + Integer.toUnsignedString(r.flags()) + (d == null ? "" : ", \"description\": " + BenchResult.string(d))
                + "}";
    }

    /** nbdinfo's names of the base:allocation types; none for other values. */
    static String description(int flags) {
        return switch (flags) {
            case 0 -> "data";
            case 1 -> "hole";
            case 2 -> "zero";
            case 3 -> "hole,zero";
            default -> null;
        };
    }
}
