package dev.rbd.server.export;

import dev.rbd.protocol.NbdConstants;
import dev.rbd.protocol.NbdString;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The exports of a {@code --config FILE}: INI-like sections, one per export, with the options the command line
 * puts after an export's path (see {@link ExportSpec}), but one a line and without comma escaping, so paths and
 * descriptions with commas need nothing special:
 * <pre>
 * # a comment: '#' first on a line (after blanks); elsewhere it is part of the value
 * [export root]
 * path = /srv/root,v2.img       relative paths are relative to the file's directory
 * ro = true                     true or false (default false)
 * description = Root image, hosts 1-40
 * allow = 10.0.0.0/8            repeatable
 * allow = cn:host42
 * overlays = /srv/overlays      a persistent overlay per client (NAME/CLIENT), relative like path;
 *                               or temp: a temporary overlay per connection (neither with ro = true)
 * clients = cn                  root/CLIENT only for the TLS certificate whose CN is CLIENT
 * </pre>
 * Keys and values are trimmed of surrounding blanks. A bad line is an {@link IllegalArgumentException} whose
 * message starts with {@code FILE:LINE:}; a file that cannot be read is an {@link IOException}.
 */
public final class ConfigFile {
    /** The largest file read: far more than any list of exports needs, and a bound on what a wrong path costs. */
    public static final int MAX_BYTES = 1 << 20;

    private final Path file;
    private final List<ExportSpec> exports = new ArrayList<>();
    private final Map<String, Integer> lines = new HashMap<>();

    // the section being read
    private String name;
    private int nameLine;
    private ExportSpec.Options options;
    private Path path;

    private ConfigFile(Path file) {
        this.file = file;
    }

    /**
     * The exports {@code file} describes, in its order (none for a file of comments only).
     *
     * @throws IOException              the file cannot be read; the message names it
     * @throws IllegalArgumentException a line is wrong, the file is too large or not UTF-8; the message names the
     *                                  file and, for a line, its number
     */
    public static List<ExportSpec> read(Path file) throws IOException {
        return new ConfigFile(file).parse(text(file));
    }

    private static String text(Path file) throws IOException {
        byte[] bytes;
        try (InputStream in = Files.newInputStream(file)) {
            bytes = in.readNBytes(MAX_BYTES + 1);
        } catch (NoSuchFileException e) {
            throw new IOException(file + ": no such file", e);
        } catch (AccessDeniedException e) {
            throw new IOException(file + ": permission denied", e);
        } catch (IOException e) {
            throw new IOException(file + ": cannot be read (" + e.getMessage() + ")", e);
        }
        if (bytes.length > MAX_BYTES) {
            throw new IllegalArgumentException(file + ": larger than " + MAX_BYTES + " bytes; not a config file?");
        }
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            throw new IllegalArgumentException(file + ": not UTF-8 text");
        }
    }

    private List<ExportSpec> parse(String text) {
        String[] all = text.split("\n", -1);
        for (int i = 0; i < all.length; i++) {
            String line = (all[i].endsWith("\r") ? all[i].substring(0, all[i].length() - 1) : all[i]).strip();
            if (line.startsWith("[")) {
                endSection(); // its message names the section's own line
            }
            try {
                line(line, i + 1);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(file + ":" + (i + 1) + ": " + e.getMessage(), e);
            }
        }
        endSection();
        return exports;
    }

    private void line(String line, int number) {
        if (line.isEmpty() || line.startsWith("#")) {
            return;
        }
        if (line.startsWith("[")) {
            section(line, number);
            return;
        }
        int eq = line.indexOf('=');
        if (eq < 0) {
            throw new IllegalArgumentException("expected 'KEY = VALUE', '[export NAME]' or a # comment, not '"
                    + NbdString.printable(line) + "'");
        }
        String key = line.substring(0, eq).strip();
        String value = line.substring(eq + 1).strip();
        if (options == null) {
            throw new IllegalArgumentException("'" + NbdString.printable(key) + "' before any [export NAME]");
        }
        switch (key) {
            case "path" -> {
                if (path != null) {
                    throw options.bad("path is given twice");
                }
                Path p = ExportSpec.Options.path(value, line);
                Path dir = file.toAbsolutePath().getParent();
                path = p.isAbsolute() || dir == null ? p : dir.resolve(p);
            }
            case "ro" -> options.readOnly(switch (value) {
                case "true" -> true;
                case "false" -> false;
                default -> throw options.bad("ro = " + NbdString.printable(value) + " (expected: true or false)");
            });
            case "description" -> options.description(value);
            case "allow" -> options.allow(value);
            case "overlays" -> options.overlays(value, file.toAbsolutePath().getParent());
            case "clients" -> options.clients(value);
            default -> throw options.bad("unknown key '" + NbdString.printable(key) + "' (known: path, "
                    + ExportSpec.Options.KNOWN.replace("=", "") + ")");
        }
    }

    private void section(String line, int number) {
        String prefix = "[export ";
        if (!line.startsWith(prefix) || !line.endsWith("]")) {
            throw new IllegalArgumentException("expected '[export NAME]', not '" + NbdString.printable(line) + "'");
        }
        String n = line.substring(prefix.length(), line.length() - 1).strip();
        if (n.isEmpty()) {
            throw new IllegalArgumentException("[export NAME] needs a name");
        }
        if (n.contains("/") || !NbdString.printable(n).equals(n)) {
            throw new IllegalArgumentException("export name '" + NbdString.printable(n)
                    + "' holds a '/' or a control character");
        }
        if (NbdString.encode(n).length < n.getBytes(StandardCharsets.UTF_8).length) {
            throw new IllegalArgumentException("export name of more than " + NbdConstants.MAX_STRING_LENGTH
                    + " bytes");
        }
        Integer earlier = lines.putIfAbsent(n, number);
        if (earlier != null) {
            throw new IllegalArgumentException("export '" + NbdString.printable(n) + "' is already named at line "
                    + earlier);
        }
        name = n;
        nameLine = number;
        options = new ExportSpec.Options(n);
        path = null;
    }

    private void endSection() {
        if (options == null) {
            return;
        }
        if (path == null) {
            throw new IllegalArgumentException(file + ":" + nameLine + ": export '" + NbdString.printable(name)
                    + "' has no 'path = IMAGE'");
        }
        try {
            exports.add(options.build(path));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(file + ":" + nameLine + ": " + e.getMessage(), e);
        }
        options = null;
    }
}
