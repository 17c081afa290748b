package dev.rbd.protocol;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Properties;

/**
 * rbd's version, e.g. {@code 0.1.0-SNAPSHOT}: every module is released together, so the tools' {@code --version}
 * read it here, from a resource Maven fills in when it builds (there in the jar and on a test class path alike).
 */
public final class RbdVersion {
    private static final String RESOURCE = "version.properties";

    private RbdVersion() {
    }

    /** The project version; the jar manifest's when the resource is missing, else {@code unknown}. */
    public static String version() {
        try (InputStream in = RbdVersion.class.getResourceAsStream(RESOURCE)) {
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
        String manifest = RbdVersion.class.getPackage().getImplementationVersion();
        return manifest != null ? manifest : "unknown";
    }
}
