package dev.rbd.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Properties;
import picocli.CommandLine.IVersionProvider;

/**
 * The {@code --version} of {@code rbd-cli} and its subcommands: the project version, from a resource Maven
 * fills in when it builds (so it is there in the jar and on a test class path alike).
 */
public final class RbdCliVersion implements IVersionProvider {
    private static final String RESOURCE = "version.properties";

    @Override
    public String[] getVersion() {
        return new String[] {"rbd-cli " + version()};
    }

    /** The project version, e.g. {@code 0.1.0-SNAPSHOT}; the jar manifest's when the resource is missing. */
    public static String version() {
        try (InputStream in = RbdCliVersion.class.getResourceAsStream(RESOURCE)) {
            if (in != null) {
                Properties p = new Properties();
                p.load(in);
                String v = p.getProperty("version", "");
                if (!v.isEmpty() && !v.startsWith("${")) {
                    return v;
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        String manifest = RbdCliVersion.class.getPackage().getImplementationVersion();
        return manifest != null ? manifest : "unknown";
    }
}
