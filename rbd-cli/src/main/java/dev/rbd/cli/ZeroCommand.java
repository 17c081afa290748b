package dev.rbd.cli;

import dev.rbd.client.ExportInfo;
import dev.rbd.client.RbdClient;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code rbd-cli zero URI}: makes a range read as zeroes without sending them (NBD_CMD_WRITE_ZEROES). */
@Command(name = "zero", mixinStandardHelpOptions = true, versionProvider = RbdCliVersion.class,
        description = "Zero a range (NBD_CMD_WRITE_ZEROES). The server may punch a hole unless --no-hole.",
        footer = {"", "Example:", "  rbd-cli zero nbd://127.0.0.1:10809/disk --offset 0 --length 1M --no-hole"})
public final class ZeroCommand implements Callable<Integer> {
    @Mixin
    ConnectOptions connect;

    @Mixin
    ExportUri uri;

    @Mixin
    RangeOptions range;

    @Option(names = "--no-hole", description = "Keep the range allocated (NBD_CMD_FLAG_NO_HOLE): write zeroes "
            + "rather than deallocate.")
    boolean noHole;

    @Override
    public Integer call() {
        try (RbdClient client = connect.connect(uri.text)) {
            ExportInfo info = client.info();
            Preflight.writable(info);
            Preflight.supports(info, info.canWriteZeroes(), "write zeroes", "send_write_zeroes");
            range.check(info);
            client.writeZeroes(range.offset, range.length, !noHole).join();
        }
        return 0;
    }
}
