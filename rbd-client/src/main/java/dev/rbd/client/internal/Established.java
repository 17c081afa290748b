package dev.rbd.client.internal;

import dev.rbd.client.ExportInfo;

/** A live connection in the transmission phase and what its negotiation said. */
public record Established(Connection connection, ExportInfo info, long serverInstance) {
}
