package dev.rbd.client.internal;

import java.time.Duration;

/**
 * How the session reconnects and retains.
 *
 * @param autoFlushBytes when acknowledged-but-unflushed writes hold this many bytes, the session sends a FLUSH
 *                       of its own so they can be let go
 */
public record Policy(Duration reconnectWait, Duration backoffInitial, Duration backoffMax, Duration quiescence,
                     long autoFlushBytes) {
}
