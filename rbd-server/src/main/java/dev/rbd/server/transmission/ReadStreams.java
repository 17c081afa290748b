package dev.rbd.server.transmission;

import java.util.ArrayDeque;

/**
 * The streamed reads of one connection: with structured replies each starts at once (their chunks interleave); with
 * simple replies one is sent at a time and the others wait, since simple replies cannot interleave. Event loop only.
 */
final class ReadStreams {
    private final boolean structured;
    /** Without structured replies, the streamed read being sent, or {@code null}. */
    private StreamedRead sending;
    private final ArrayDeque<StreamedRead> waiting = new ArrayDeque<>();

    ReadStreams(boolean structured) {
        this.structured = structured;
    }

    /** Starts a streamed read, or queues it behind the one being sent when replies are simple. */
    void start(StreamedRead r) {
        if (structured) {
            r.next();
        } else if (sending != null) {
            waiting.add(r);
        } else {
            sending = r;
            r.next();
        }
    }

    /** A streamed read is done: the next one waiting starts. */
    void done() {
        sending = waiting.poll();
        if (sending != null) {
            sending.next();
        }
    }
}
