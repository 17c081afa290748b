package dev.rbd.client;

/** One export in a server's list. */
public record ExportEntry(String name, String description) {
}
