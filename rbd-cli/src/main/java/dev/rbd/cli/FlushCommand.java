package dev.rbd.cli;

import dev.rbd.client.ExportInfo;
import dev.rbd.client.RbdClient;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/** {@code rbd-cli flush URI}: asks the server to put every write it has answered on stable storage. */
@Command(name = "flush", mixinStandardHelpOptions = true, versionProvider = RbdCliVersion.class,
        description = "Send NBD_CMD_FLUSH: every write the server has answered is on stable storage when this returns.",
        footer = {"", "Example:", "  rbd-cli flush nbd://127.0.0.1:10809/disk"})
public final class FlushCommand implements Callable<Integer> {
    @Mixin
    ConnectOptions connect;

    @Mixin
    ExportUri uri;

    @Override
    public Integer call() {
        try (RbdClient client = connect.connect(uri.text)) {
            ExportInfo info = client.info();
            if (info.canFlush()) {
                client.flush().join();
            } else if (!info.durableAcks()) {
                Preflight.supports(info, false, "flush", "send_flush");
            }
            // else: the server acknowledges only durable writes and takes no FLUSH; there is nothing to do
        }
        return 0;
    }
}
