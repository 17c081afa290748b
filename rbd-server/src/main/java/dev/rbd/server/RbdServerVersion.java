package dev.rbd.server;

import dev.rbd.protocol.RbdVersion;
import picocli.CommandLine.IVersionProvider;

/** The {@code --version} of {@code rbd-server} and each of its subcommands. */
public final class RbdServerVersion implements IVersionProvider {
    @Override
    public String[] getVersion() {
        return new String[] {"rbd-server " + RbdVersion.version()};
    }
}
