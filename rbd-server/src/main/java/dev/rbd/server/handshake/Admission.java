package dev.rbd.server.handshake;

import dev.rbd.protocol.NbdReplyType;
import dev.rbd.protocol.NbdString;
import dev.rbd.server.export.Connection;
import dev.rbd.server.export.Export;
import dev.rbd.server.export.OverlayUnavailableException;
import dev.rbd.server.export.ServerContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Whether a connection may have an export: it exists, its rules let the connection use it, the server is not
 * shutting down, and (to open it) the rbd session, if any, names it and its writer lock admits the client, unless the
 * session only reads. A refusal carries the option error the spec gives for it.
 */
final class Admission {
    private static final Logger log = LoggerFactory.getLogger(Admission.class);
    static final RefusalLog NOT_ALLOWED = new RefusalLog(log, "request(s) for an export refused by its allow"
            + " rules");
    static final RefusalLog UNAVAILABLE = new RefusalLog(log, "request(s) for an overlay that cannot be opened");

    /**
     * A refusal: the option error to reply with, and why.
     *
     * @param logged it was logged already, where it was decided
     */
    record Refusal(NbdReplyType type, String message, boolean logged) {
        Refusal(NbdReplyType type, String message) {
            this(type, message, false);
        }
    }

    private Admission() {
    }

    /**
     * Refuses an unknown export, an export whose rules do not let the connection use it (logged here, rate-limited),
     * or any export while the server shuts down; else {@code null}. {@code option} names what asked, for the log.
     */
    static Refusal find(ServerContext server, Connection conn, String option, String name, Export export) {
        if (export == null) {
            Export overlays = server.overlayExportOf(name);
            if (overlays != null && overlays.allows(conn)) {
                return new Refusal(NbdReplyType.ERR_UNKNOWN, "export '" + NbdString.printable(name) + "': the client"
                        + " name after '" + overlays.name() + "/' must be 1 to 64 of A-Z a-z 0-9 . _ -");
            }
            return new Refusal(NbdReplyType.ERR_UNKNOWN, "unknown export '" + NbdString.printable(name) + "'");
        }
        if (!export.allows(conn)) {
            // says no more than that: not the export's size, description, rules, or who may use it
            NOT_ALLOWED.warn("[{}] {}: {} for export '{}' refused: not allowed by its allow rules", conn.id(),
                    conn.who(), option, NbdString.printable(name));
            return new Refusal(NbdReplyType.ERR_POLICY, "export '" + NbdString.printable(name)
                    + "' is not allowed for this client", true);
        }
        if (server.draining()) {
            return new Refusal(NbdReplyType.ERR_SHUTDOWN, "server is shutting down");
        }
        return null;
    }

    /** What {@link #lookup} found: the export, or why there is none for the connection. */
    record Found(Export export, Refusal refusal) {
    }

    /**
     * {@link ServerContext#export} and {@link #find}, and for {@code NAME/CLIENT} of an export with persistent
     * overlays, once the connection may use it, the client's own export (opening its overlay; a failure is logged
     * here with the details, and the client told what it may know).
     */
    static Found lookup(ServerContext server, Connection conn, String option, String name) {
        Export e = server.export(name);
        Refusal refusal = find(server, conn, option, name, e);
        if (refusal != null) {
            return new Found(null, refusal);
        }
        int slash = name.indexOf('/');
        if (slash < 0 || !e.persistentOverlays()) {
            return new Found(e, null);
        }
        String client = name.substring(slash + 1);
        if (e.clientsByIdentity() && !client.equals(conn.identity())) {
            NOT_ALLOWED.warn("[{}] {}: {} for export '{}' refused: clients=cn, and the connection's TLS identity is "
                    + "{}", conn.id(), conn.who(), option, NbdString.printable(name),
                    conn.identity() == null ? "none" : "'" + NbdString.printable(conn.identity()) + "'");
            return new Found(null, new Refusal(NbdReplyType.ERR_POLICY, "export '" + NbdString.printable(name)
                    + "' is only for the client whose TLS certificate names '" + client + "'", true));
        }
        try {
            return new Found(e.clientExport(client), null);
        } catch (OverlayUnavailableException u) {
            UNAVAILABLE.warn("[{}] {}: {} of export '{}' refused: {}", conn.id(), conn.who(), option,
                    NbdString.printable(name), u.detail());
            return new Found(null, new Refusal(NbdReplyType.ERR_UNKNOWN, "export '" + NbdString.printable(name)
                    + "' is not available: " + u.getMessage(), true));
        }
    }

    /** Whether LIST shows the export to the connection: only the exports it may use. */
    static boolean listed(Export export, Connection conn) {
        return export.allows(conn);
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

    /** Gives back what {@link #claim} took, when the export is not served after all. */
    static void release(Export export, Connection conn) {
        if (!conn.readOnly()) {
            export.writerLock().release(conn.client(), true);
        }
    }
}
