package dev.rbd.server.export;

import dev.rbd.protocol.NbdConstants;
import dev.rbd.protocol.NbdString;
import java.nio.charset.StandardCharsets;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * One export as the command line names it: {@code [NAME=]PATH[,OPTION]...}. Without {@code NAME=}, the name is the
 * file name without its extension. Options follow the path, comma separated; a comma inside the path or a value is
 * written twice ({@code /srv/a,,b.img} is {@code /srv/a,b.img}), as qemu's option lists do. The options:
 * <ul>
 *   <li>{@code allow=RULE}, repeatable: only peers a rule names may use the export; a rule is what {@code --allow}
 *       takes or {@code cn:IDENTITY} (see {@link AccessRules#parseForExport}).</li>
 *   <li>{@code ro}: this export is read-only, whatever {@code --readonly} says for the others.</li>
 *   <li>{@code description=TEXT}: what {@code NBD_INFO_DESCRIPTION} and {@code LIST} say about the export, instead
 *       of the default (its name and size); at most 4096 bytes of UTF-8, no control characters.</li>
 *   <li>{@code overlays=temp}: every connection gets its own temporary overlay over the image, which is opened
 *       read-only and never written; what a client writes is discarded when its connection ends (kiosk mode). Not
 *       with {@code ro}.</li>
 *   <li>{@code overlays=DIR}: every client, opening {@code NAME/CLIENT}, gets its own persistent overlay in the
 *       directory DIR (see {@code PersistentOverlay}); plain {@code NAME} serves the image read-only. Not with
 *       {@code ro}.</li>
 *   <li>{@code clients=cn}: with {@code overlays=DIR}, a connection may open {@code NAME/CLIENT} only when its
 *       verified TLS client certificate's CN is CLIENT, so a machine reaches its own overlay and no other's.</li>
 * </ul>
 * {@link ConfigFile} gives the same options in a file; both go through {@link Options}, so an option added there is
 * checked the same way in both places.
 *
 * @param name        the export's name
 * @param path        the image
 * @param access      who may use it ({@link AccessRules#OPEN} without {@code allow=})
 * @param readOnly    whether this export alone is read-only ({@code ro})
 * @param description the description it asked for, or {@code null} for the default
 * @param temporaryOverlays whether each connection gets its own temporary overlay ({@code overlays=temp})
 * @param overlayDir  where clients' persistent overlays are ({@code overlays=DIR}), or {@code null}
 * @param clientsByIdentity {@code NAME/CLIENT} only for the connection whose TLS identity is CLIENT ({@code clients=cn})
 */
public record ExportSpec(String name, Path path, AccessRules access, boolean readOnly, String description,
                         boolean temporaryOverlays, Path overlayDir, boolean clientsByIdentity) {
    /** The longest description, in UTF-8 bytes: the longest string NBD carries. */
    public static final int MAX_DESCRIPTION_BYTES = NbdConstants.MAX_STRING_LENGTH;

    public ExportSpec {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(path, "path");
        Objects.requireNonNull(access, "access");
    }

    /**
     * Parses one export argument.
     *
     * @throws IllegalArgumentException with a message fit for a usage error (it names a bad or unknown option)
     */
    public static ExportSpec parse(String text) {
        List<String> parts = split(text);
        String image = parts.get(0);
        String name;
        Path path;
        int eq = image.indexOf('=');
        if (eq > 0 && !image.substring(0, eq).contains("/")) {
            name = image.substring(0, eq);
            path = Options.path(image.substring(eq + 1), text);
        } else {
            path = Options.path(image, text);
            String file = path.getFileName().toString();
            int dot = file.lastIndexOf('.');
            name = dot > 0 ? file.substring(0, dot) : file;
        }
        Options options = new Options(name);
        for (String option : parts.subList(1, parts.size())) {
            int oeq = option.indexOf('=');
            String key = oeq < 0 ? option : option.substring(0, oeq);
            String value = oeq < 0 ? null : option.substring(oeq + 1);
            switch (key) {
                case "allow" -> options.allow(value);
                case "ro" -> {
                    if (value != null) {
                        throw options.bad("ro takes no value (write 'ro', not 'ro="
                                + NbdString.printable(value) + "')");
                    }
                    options.readOnly(true);
                }
                case "description" -> {
                    if (value == null) {
                        throw options.bad("description needs a value: description=TEXT");
                    }
                    options.description(value);
                }
                case "overlays" -> options.overlays(value, null);
                case "clients" -> options.clients(value);
                case "" -> throw options.bad("an empty option (a comma in the path is written twice: a,,b)");
                default -> throw options.bad("unknown option '" + NbdString.printable(key) + "' (known: "
                        + Options.KNOWN + "; a comma in the path is written twice: a,,b)");
            }
        }
        return options.build(path);
    }

    /** Splits at single commas; a doubled comma is one comma of the text. */
    private static List<String> split(String text) {
        List<String> parts = new ArrayList<>();
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c != ',') {
                b.append(c);
            } else if (i + 1 < text.length() && text.charAt(i + 1) == ',') {
                b.append(',');
                i++;
            } else {
                parts.add(b.toString());
                b.setLength(0);
            }
        }
        parts.add(b.toString());
        return parts;
    }

    /**
     * The options of one export as they are read, from the command line or a {@link ConfigFile}: each setter checks
     * its value and that a one-time option comes once, and throws a message that names the export.
     */
    static final class Options {
        /** The options, for messages that list them. */
        static final String KNOWN = "allow=, clients=, description=, overlays=, ro";

        private final String name;
        private final List<AccessRules.Rule> allow = new ArrayList<>();
        private Boolean readOnly;
        private String description;
        private Boolean temporaryOverlays;
        private Path overlayDir;
        private Boolean clientsByIdentity;

        Options(String name) {
            this.name = name;
        }

        /** The image path of {@code text}; {@code whole} is the argument or line it came from, for the message. */
        static Path path(String text, String whole) {
            Path path;
            try {
                path = Path.of(text);
            } catch (InvalidPathException e) {
                throw new IllegalArgumentException("not a path: '" + NbdString.printable(text) + "'");
            }
            if (path.toString().isEmpty() || path.getFileName() == null) {
                throw new IllegalArgumentException("no image path in '" + NbdString.printable(whole) + "'");
            }
            return path;
        }

        IllegalArgumentException bad(String message) {
            return new IllegalArgumentException("export '" + NbdString.printable(name) + "': " + message);
        }

        void allow(String rule) {
            if (rule == null || rule.isEmpty()) {
                throw bad("allow= needs a rule (ADDRESS[/PREFIX], uid:N or cn:IDENTITY)");
            }
            try {
                allow.add(AccessRules.parseForExport(rule));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("export '" + NbdString.printable(name) + "', allow=: "
                        + e.getMessage(), e);
            }
        }

        void readOnly(boolean b) {
            if (readOnly != null) {
                throw bad("ro is given twice");
            }
            readOnly = b;
        }

        void description(String text) {
            if (description != null) {
                throw bad("description= is given twice");
            }
            int bytes = text.getBytes(StandardCharsets.UTF_8).length;
            if (bytes > MAX_DESCRIPTION_BYTES) {
                throw bad("description= of " + bytes + " bytes (expected: <= " + MAX_DESCRIPTION_BYTES
                        + " bytes of UTF-8)");
            }
            for (int i = 0; i < text.length(); i++) {
                char c = text.charAt(i);
                if (Character.isSurrogate(c) && !(Character.isHighSurrogate(c) && i + 1 < text.length()
                        && Character.isLowSurrogate(text.charAt(i + 1)))) {
                    throw bad("description= is not valid Unicode at character " + (i + 1));
                }
                if (Character.isHighSurrogate(c)) {
                    i++;
                    continue;
                }
                // the characters NbdString.printable escapes: clients print descriptions, often without escaping
                int type = Character.getType(c);
                if (type == Character.CONTROL || type == Character.FORMAT || type == Character.LINE_SEPARATOR
                        || type == Character.PARAGRAPH_SEPARATOR) {
                    throw bad("description= holds a control character (" + NbdString.printable(String.valueOf(c))
                            + ") at character " + (i + 1));
                }
            }
            description = text;
        }

        /**
         * {@code overlays=temp}, or {@code overlays=DIR}; a relative DIR is taken from {@code base} when it is not
         * {@code null} (a config file's directory).
         */
        void overlays(String value, Path base) {
            if (temporaryOverlays != null) {
                throw bad("overlays= is given twice");
            }
            if (value == null || value.isEmpty()) {
                throw bad("overlays= needs a value: overlays=temp or overlays=DIR");
            }
            if (value.equals("temp")) {
                temporaryOverlays = true;
                return;
            }
            Path dir;
            try {
                dir = Path.of(value);
            } catch (InvalidPathException e) {
                throw bad("overlays=" + NbdString.printable(value) + " is not a path");
            }
            temporaryOverlays = false;
            overlayDir = dir.isAbsolute() || base == null ? dir : base.resolve(dir);
        }

        /** {@code clients=cn}: a client's overlay only for the TLS identity of its name. */
        void clients(String value) {
            if (clientsByIdentity != null) {
                throw bad("clients= is given twice");
            }
            if (!"cn".equals(value)) {
                throw bad("clients=" + (value == null ? "" : NbdString.printable(value)) + " (expected: clients=cn, "
                        + "NAME/CLIENT only for the TLS client certificate whose CN is CLIENT)");
            }
            clientsByIdentity = true;
        }

        ExportSpec build(Path path) {
            boolean ro = readOnly != null && readOnly;
            boolean temp = temporaryOverlays != null && temporaryOverlays;
            if (ro && (temp || overlayDir != null)) {
                throw bad("ro and overlays=" + (temp ? "temp" : NbdString.printable(overlayDir.toString()))
                        + " exclude each other (clients write to their overlays; the image itself is never written)");
            }
            boolean byIdentity = clientsByIdentity != null && clientsByIdentity;
            if (byIdentity && overlayDir == null) {
                throw bad("clients=cn needs overlays=DIR (it says who may open which client's overlay)");
            }
            return new ExportSpec(name, path, AccessRules.of(allow), ro, description, temp, overlayDir, byIdentity);
        }
    }
}
