package dev.rbd.cli;

import dev.rbd.client.ExportInfo;
import dev.rbd.client.RbdClient;
import dev.rbd.protocol.NbdConstants;
import dev.rbd.protocol.NbdString;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code rbd-cli info URI}: what the server says of an export, as nbdinfo shows it. */
@Command(name = "info", mixinStandardHelpOptions = true, versionProvider = RbdCliVersion.class,
        description = "Show an export's size, block sizes, flags and durability, as the server advertises them.",
        footer = {"", "Example:", "  rbd-cli info nbd://127.0.0.1:10809/disk --json"})
public final class InfoCommand implements Callable<Integer> {
    /** Transmission flag bits by name, in bit order: the spec's names, lower case, without {@code NBD_FLAG_}. */
    private static final List<String> FLAG_NAMES = List.of("has_flags", "read_only", "send_flush", "send_fua",
            "rotational", "send_trim", "send_write_zeroes", "send_df", "can_multi_conn", "send_resize",
            "send_cache", "send_fast_zero", "block_status_payload");

    @Spec
    CommandSpec spec;

    @Mixin
    ConnectOptions connect;

    @Mixin
    ExportUri uri;

    @Option(names = "--json", description = "Print one JSON object (keys: uri, export, description, size, read_only, "
            + "min_block_size, preferred_block_size, max_payload, can_multi_conn, durable_acks, fencing, flags).")
    boolean json;

    @Override
    public Integer call() {
        ExportInfo info;
        try (RbdClient client = connect.connectReadOnly(uri.text)) {
            info = client.info();
        }
        PrintWriter out = spec.commandLine().getOut();
        out.print(json ? toJson(uri.text, info) + System.lineSeparator() : toText(uri.text, info));
        out.flush();
        return 0;
    }

    /**
     * The export's own flags: info opens the export read-only (so it never takes the writer slot), and READ_ONLY
     * set for that reason alone is left out.
     */
    static int exportFlags(ExportInfo info) {
        return info.readOnlyByChoice() ? info.transmissionFlags() & ~NbdConstants.FLAG_READ_ONLY
                : info.transmissionFlags();
    }

    /** The names of the transmission flags set, {@code has_flags} left out; unnamed bits as {@code bit_N}. */
    static List<String> flagNames(int flags) {
        List<String> names = new ArrayList<>();
        for (int bit = 1; bit < 16; bit++) {
            if ((flags & (1 << bit)) != 0) {
                names.add(bit < FLAG_NAMES.size() ? FLAG_NAMES.get(bit) : "bit_" + bit);
            }
        }
        return names;
    }

    static String toText(String uri, ExportInfo info) {
        String n = System.lineSeparator();
        return "export=" + BenchResult.string(info.name()) + ":" + n
                + "\tdescription: " + NbdString.printable(info.description()) + n
                + "\turi: " + uri + n
                + "\texport-size: " + info.size() + " (" + Preflight.size(info.size()) + ")" + n
                + "\tis_read_only: " + info.exportReadOnly() + n
                + "\tblock_size_minimum: " + info.minimumBlock() + n
                + "\tblock_size_preferred: " + info.preferredBlock() + n
                + "\tblock_size_maximum: " + info.maxPayload() + n
                + "\ttransmission_flags: " + String.join(" ", flagNames(exportFlags(info))) + n
                + "\tcan_multi_conn: " + info.canMultiConn() + n
                + "\tacks: " + (info.durableAcks() ? "durable" : "not durable or unknown") + n
                + "\tfencing: " + (info.fencing() ? "supported (rbd session option)" : "not supported") + n
                + "\tstructured_replies: " + info.structuredReplies() + n;
    }

    static String toJson(String uri, ExportInfo info) {
        int mask = exportFlags(info) & ~NbdConstants.FLAG_HAS_FLAGS;
        return "{\"uri\":" + BenchResult.string(uri)
                + ",\"export\":" + BenchResult.string(info.name())
                + ",\"description\":" + BenchResult.string(info.description())
                + ",\"size\":" + Long.toUnsignedString(info.size())
                + ",\"read_only\":" + info.exportReadOnly()
                + ",\"min_block_size\":" + info.minimumBlock()
                + ",\"preferred_block_size\":" + info.preferredBlock()
                + ",\"max_payload\":" + Integer.toUnsignedString(info.maxPayload())
                + ",\"can_multi_conn\":" + info.canMultiConn()
                + ",\"durable_acks\":" + info.durableAcks()
                + ",\"fencing\":" + info.fencing()
                + ",\"flags\":[" + flagNames(mask).stream().map(BenchResult::string).collect(Collectors.joining(","))
                + "]}";
    }
}
