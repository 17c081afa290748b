package dev.rbd.server.export;

/**
 * How far a fenced connection got: requests it had read that were finished, and those discarded.
 *
 * @param finished  requests that ran to the end after the fence
 * @param discarded requests dropped without running (waiting for an I/O thread, or not yet read)
 */
public record Fenced(int finished, int discarded) {
}
