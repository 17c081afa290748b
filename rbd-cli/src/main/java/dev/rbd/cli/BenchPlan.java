package dev.rbd.cli;

import java.time.Duration;

/**
 * What one benchmark run does, checked against the export.
 *
 * @param blockSize   bytes per request
 * @param blocks      how many {@code blockSize} blocks fit in the export (requests stay aligned to them)
 * @param queueDepth  requests in flight in total, spread round-robin over the connections
 * @param ramp        time before measuring starts (requests run, nothing is recorded)
 * @param duration    the measured time that follows
 */
record BenchPlan(AccessPattern pattern, int blockSize, long blocks, int queueDepth, Duration ramp,
                 Duration duration) {
}
