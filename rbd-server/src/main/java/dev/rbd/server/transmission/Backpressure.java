package dev.rbd.server.transmission;

import dev.rbd.protocol.NbdCommand;
import dev.rbd.protocol.NbdRequest;
import io.netty.channel.ChannelConfig;

/**
 * Flow control for one connection: reading pauses while the requests in flight hold more than the limit, and
 * resumes once they hold half of it, so a client cannot make the server buffer without bound. Event loop only.
 */
final class Backpressure {
    private final ChannelConfig config;
    private final long max;
    private long bytes;
    private boolean paused;

    Backpressure(ChannelConfig config, long max) {
        this.config = config;
        this.max = max;
    }

    /** What a request holds in memory while in flight: its payload, or the buffer its read reply will need. */
    static long weight(NbdRequest req) {
        NbdCommand c = req.command();
        return c == NbdCommand.READ || c == NbdCommand.WRITE ? req.length() + 64 : 64;
    }

    void started(long weight) {
        bytes += weight;
        if (!paused && bytes > max) {
            paused = true;
            config.setAutoRead(false);
        }
    }

    void finished(long weight) {
        bytes -= weight;
        if (paused && bytes <= max / 2) {
            paused = false;
            config.setAutoRead(true);
        }
    }
}
