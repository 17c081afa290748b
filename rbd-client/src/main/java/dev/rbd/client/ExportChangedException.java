package dev.rbd.client;

/**
 * After a reconnect the export was no longer the one the client had (another size, or read-only now), so nothing
 * was replayed onto it.
 */
public final class ExportChangedException extends RbdException {
    private static final long serialVersionUID = 1L;
    private final transient ExportInfo before;
    private final transient ExportInfo after;

    public ExportChangedException(ExportInfo before, ExportInfo after) {
        super("the export changed across the reconnect (size " + before.size() + " -> " + after.size()
                + ", read-only " + before.readOnly() + " -> " + after.readOnly() + "); not replaying", null, null);
        this.before = before;
        this.after = after;
    }

    public ExportInfo before() {
        return before;
    }

    public ExportInfo after() {
        return after;
    }
}
