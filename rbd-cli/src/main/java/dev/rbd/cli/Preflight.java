package dev.rbd.cli;

import dev.rbd.client.ExportInfo;
import dev.rbd.protocol.Sizes;

/**
 * Checks made against what the server said of the export before a request is sent, so the user reads why in
 * their own terms ("past the end", "read-only") rather than as the server's EINVAL or EPERM.
 */
final class Preflight {
    private Preflight() {
    }

    /** Throws unless {@code [offset, offset + length)} lies within the export; safe for any unsigned values. */
    static void withinExport(ExportInfo info, long offset, long length) {
        long size = info.size();
        if (Long.compareUnsigned(offset, size) > 0 || Long.compareUnsigned(length, size - offset) > 0) {
            throw new IllegalStateException("offset " + size(offset) + " + length " + size(length)
                    + " is past the end of the export (size " + size(size) + ")");
        }
    }

    /** Throws unless offset and length are multiples of the export's minimum block size. */
    static void aligned(ExportInfo info, long offset, long length) {
        long min = info.minimumBlock();
        if (Long.remainderUnsigned(offset, min) != 0 || Long.remainderUnsigned(length, min) != 0) {
            throw new IllegalStateException("offset " + size(offset) + " and length " + size(length)
                    + " must be multiples of " + export(info) + "'s minimum block size, " + min);
        }
    }

    /** Throws when the export takes no writes. */
    static void writable(ExportInfo info) {
        if (info.readOnly()) {
            throw new IllegalStateException(export(info) + " is read-only");
        }
    }

    /** Throws when the server did not advertise a command; {@code flag} is its flag's name, as info prints it. */
    static void supports(ExportInfo info, boolean advertised, String command, String flag) {
        if (!advertised) {
            throw new IllegalStateException(export(info) + " does not accept " + command + " (the server did not "
                    + "advertise " + flag + ")");
        }
    }

    static String export(ExportInfo info) {
        return "export '" + info.name() + "'";
    }

    /** A size as the user may have typed it: {@code 4k}, {@code 1G}; unsigned. */
    static String size(long bytes) {
        return bytes < 0 ? Long.toUnsignedString(bytes) : Sizes.format(bytes);
    }
}
