package dev.rbd.cli;

import dev.rbd.client.ClientOptions;
import dev.rbd.client.RbdClient;
import java.time.Duration;
import picocli.CommandLine.Option;

/** The connection options every command shares (a picocli mixin). */
final class ConnectOptions {
    @Option(names = "--retry-for", paramLabel = "TIME", defaultValue = "0", converter = DurationConverter.class,
            description = "When the connection drops mid-command, keep reconnecting and resending for this long "
                    + "(10s, 2m). (default: 0, fail at once)")
    Duration retryFor;

    /**
     * The client's defaults, but failing fast: a command that quietly reconnects for a minute looks hung, so it
     * retries only when asked to.
     */
    ClientOptions options() {
        return ClientOptions.builder().reconnectWait(retryFor).build();
    }

    RbdClient connect(String uri) {
        return OpenClients.connect(uri, options());
    }

    /** For commands that only read: against rbd-server they take no writer slot, so they work while others write. */
    RbdClient connectReadOnly(String uri) {
        return OpenClients.connect(uri, options().toBuilder().readOnly(true).build());
    }

    /** Read-only, asking for the {@code base:allocation} context so BLOCK_STATUS works where the server offers it. */
    RbdClient connectForBlockStatus(String uri) {
        return OpenClients.connect(uri, options().toBuilder().readOnly(true).blockStatus(true).build());
    }
}
