package dev.rbd.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** A command fails fast unless --retry-for asks it to reconnect. */
class ConnectOptionsTest {
    private static ConnectOptions parsed(String... args) {
        CommandLine cmd = RbdCli.commandLine();
        cmd.parseArgs(args);
        InfoCommand info = cmd.getSubcommands().get("info").getCommand();
        return info.connect;
    }

    @Test
    void reconnectingIsOffByDefault() {
        assertThat(parsed("info", "nbd://127.0.0.1/disk").options().reconnectWait()).isEqualTo(Duration.ZERO);
    }

    @Test
    void retryForSetsHowLongToReconnect() {
        assertThat(parsed("info", "nbd://127.0.0.1/disk", "--retry-for", "2m").options().reconnectWait())
                .isEqualTo(Duration.ofMinutes(2));
    }
}
