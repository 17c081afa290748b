package dev.rbd.cli;

import dev.rbd.client.ExportInfo;
import dev.rbd.client.RbdClient;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/** {@code rbd-cli trim URI}: tells the server a range is no longer needed (NBD_CMD_TRIM, a discard). */
@Command(name = "trim", mixinStandardHelpOptions = true, versionProvider = RbdCliVersion.class,
        description = "Discard a range (NBD_CMD_TRIM): the server may free it; what it then reads as is unspecified.",
        footer = {"", "Example:", "  rbd-cli trim nbd://127.0.0.1:10809/disk --offset 1M --length 16M"})
public final class TrimCommand implements Callable<Integer> {
    @Mixin
    ConnectOptions connect;

    @Mixin
    ExportUri uri;

    @Mixin
    RangeOptions range;

    @Override
    public Integer call() {
        try (RbdClient client = connect.connect(uri.text)) {
            ExportInfo info = client.info();
            Preflight.writable(info);
            Preflight.supports(info, info.canTrim(), "trim", "send_trim");
            range.check(info);
            client.trim(range.offset, range.length).join();
        }
        return 0;
    }
}
