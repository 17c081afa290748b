package dev.rbd.cli;

import dev.rbd.protocol.RbdVersion;
import picocli.CommandLine.IVersionProvider;

/** The {@code --version} of {@code rbd-cli} and each of its subcommands. */
public final class RbdCliVersion implements IVersionProvider {
    @Override
    public String[] getVersion() {
        return new String[] {"rbd-cli " + RbdVersion.version()};
    }
}
