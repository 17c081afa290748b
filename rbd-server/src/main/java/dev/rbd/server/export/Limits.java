package dev.rbd.server.export;

import java.time.Duration;

/**
 * What one client may hold: connections, in all and from one address, and how long a connection may sit idle or
 * stalled in the transmission phase.
 *
 * @param maxConnections            connections open at once, handshaking ones included
 * @param maxConnectionsPerAddress  connections open at once from one source address (TCP)
 * @param idleTimeout               a transmission-phase connection on which no request arrived, none ran and no
 *                                  reply was sent for this long is closed; zero: never
 * @param stallTimeout              a connection with a request partly received and no byte for this long, or with
 *                                  reply bytes the peer does not read for this long, is closed; zero: never
 */
public record Limits(int maxConnections, int maxConnectionsPerAddress, Duration idleTimeout, Duration stallTimeout) {
    public static final Limits DEFAULT = new Limits(256, 64, Duration.ZERO, Duration.ofSeconds(60));

    public Limits {
        if (maxConnections < 1 || maxConnectionsPerAddress < 1) {
            throw new IllegalArgumentException("maxConnections: " + maxConnections + ", maxConnectionsPerAddress: "
                    + maxConnectionsPerAddress + " (expected: >= 1)");
        }
        if (idleTimeout.isNegative() || stallTimeout.isNegative()) {
            throw new IllegalArgumentException("idleTimeout: " + idleTimeout + ", stallTimeout: " + stallTimeout
                    + " (expected: >= 0)");
        }
    }

    public Limits withMaxConnections(int n, int perAddress) {
        return new Limits(n, perAddress, idleTimeout, stallTimeout);
    }

    public Limits withTimeouts(Duration idle, Duration stall) {
        return new Limits(maxConnections, maxConnectionsPerAddress, idle, stall);
    }
}
