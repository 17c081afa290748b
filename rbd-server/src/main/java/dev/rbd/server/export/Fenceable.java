package dev.rbd.server.export;

import java.util.concurrent.CompletableFuture;

/**
 * What a connection does to be fenced in its current phase (see {@link Fencing}); called on its event loop. Until
 * the transmission phase, fencing just closes the channel.
 */
@FunctionalInterface
public interface Fenceable {
    /** Reads nothing more; completes once none of the requests already read is still running. */
    CompletableFuture<Fenced> fence();
}
