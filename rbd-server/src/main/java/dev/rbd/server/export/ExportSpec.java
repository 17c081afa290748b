package dev.rbd.server.export;

import dev.rbd.protocol.NbdString;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * One export as the command line names it: {@code [NAME=]PATH[,OPTION]...}. Without {@code NAME=}, the name is the
 * file name without its extension. Options follow the path, comma separated; a comma inside the path or a value is
 * written twice ({@code /srv/a,,b.img} is {@code /srv/a,b.img}), as qemu's option lists do. The options:
 * <ul>
 *   <li>{@code allow=RULE}, repeatable: only peers a rule names may use the export; a rule is what {@code --allow}
 *       takes or {@code cn:IDENTITY} (see {@link AccessRules#parseForExport}).</li>
 * </ul>
 *
 * @param name   the export's name
 * @param path   the image
 * @param access who may use it ({@link AccessRules#OPEN} without {@code allow=})
 */
public record ExportSpec(String name, Path path, AccessRules access) {
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
        try {
            if (eq > 0 && !image.substring(0, eq).contains("/")) {
                name = image.substring(0, eq);
                path = Path.of(image.substring(eq + 1));
            } else {
                path = Path.of(image);
                name = null;
            }
        } catch (InvalidPathException e) {
            throw new IllegalArgumentException("not a path: '" + NbdString.printable(image) + "'");
        }
        if (path.toString().isEmpty() || path.getFileName() == null) {
            throw new IllegalArgumentException("no image path in '" + NbdString.printable(text) + "'");
        }
        if (name == null) {
            String file = path.getFileName().toString();
            int dot = file.lastIndexOf('.');
            name = dot > 0 ? file.substring(0, dot) : file;
        }
        List<AccessRules.Rule> allow = new ArrayList<>();
        for (String option : parts.subList(1, parts.size())) {
            int oeq = option.indexOf('=');
            String key = oeq < 0 ? option : option.substring(0, oeq);
            String value = oeq < 0 ? null : option.substring(oeq + 1);
            switch (key) {
                case "allow" -> {
                    if (value == null || value.isEmpty()) {
                        throw new IllegalArgumentException("export '" + NbdString.printable(name)
                                + "': allow= needs a rule (ADDRESS[/PREFIX], uid:N or cn:IDENTITY)");
                    }
                    try {
                        allow.add(AccessRules.parseForExport(value));
                    } catch (IllegalArgumentException e) {
                        throw new IllegalArgumentException("export '" + NbdString.printable(name) + "', allow=: "
                                + e.getMessage(), e);
                    }
                }
                case "" -> throw new IllegalArgumentException("export '" + NbdString.printable(name)
                        + "': an empty option (a comma in the path is written twice: a,,b)");
                default -> throw new IllegalArgumentException("export '" + NbdString.printable(name)
                        + "': unknown option '" + NbdString.printable(key) + "' (known: allow=; a comma in the path is "
                        + "written twice: a,,b)");
            }
        }
        return new ExportSpec(name, path, AccessRules.of(allow));
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
}
