package dev.rbd.server.handshake;

import dev.rbd.protocol.NbdReplyType;
import dev.rbd.protocol.NbdString;
import dev.rbd.server.export.Connection;
import dev.rbd.server.export.Export;
import dev.rbd.server.export.ServerContext;

/**
 * Whether a connection may have an export: it exists, the server is not shutting down, and (to open it) the rbd
 * session, if any, names it and its writer lock admits the client, unless the session only reads. A refusal carries
 * the option error the spec gives for it.
 */
final class Admission {
    /** A refusal: the option error to reply with, and why. */
    record Refusal(NbdReplyType type, String message) {
    }

    private Admission() {
    }

    /** Refuses an unknown export, or any export while the server shuts down; else {@code null}. */
    static Refusal find(ServerContext server, String name, Export export) {
        if (export == null) {
            return new Refusal(NbdReplyType.ERR_UNKNOWN, "unknown export '" + NbdString.printable(name) + "'");
        }
        if (server.draining()) {
            return new Refusal(NbdReplyType.ERR_SHUTDOWN, "server is shutting down");
        }
        return null;
    }

    /**
     * Claims the export's writer lock for the connection, unless its rbd session was opened for another export;
     * returns {@code null} when the connection may open it.
     */
    static Refusal open(Export export, Export sessionExport, Connection conn) {
        if (sessionExport != null && sessionExport != export) {
            return new Refusal(NbdReplyType.ERR_INVALID, "the rbd session was opened for export '"
                    + sessionExport.name() + "', not '" + export.name() + "'");
        }
        String refusal = claim(export, conn);
        return refusal == null ? null : new Refusal(NbdReplyType.ERR_POLICY, refusal);
    }

    /**
     * Claims the writer lock for the connection, except for one that only reads (rbd's READ_ONLY_INTENT), which
     * never holds it; {@code null} when granted, else why not.
     */
    static String claim(Export export, Connection conn) {
        return conn.readOnly() ? null : export.writerLock().claim(conn.client(), conn.label());
    }
}
