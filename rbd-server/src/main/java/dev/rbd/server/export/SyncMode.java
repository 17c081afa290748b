package dev.rbd.server.export;

/** When writes become durable. */
public enum SyncMode {
    /** Reply to WRITE / WRITE_ZEROES / TRIM only after a sync covered it (group commit). The default. */
    ALWAYS,
    /** Reply once the OS has the data; durable at FLUSH or FUA (NBD's default semantics). */
    FLUSH
}
