package dev.rbd.server.transmission;

import dev.rbd.protocol.NbdCommand;

/**
 * What a streamed read or write needs of its connection's transmission handler: the event loop, the reply and
 * memory accounting of a request, and whether the connection was fenced. Event loop only, but {@link #onLoop}.
 */
interface StreamOwner {
    /** Runs {@code r} on the connection's event loop. */
    void onLoop(Runnable r);

    /** The request finished with {@code o}: its reply is written, and its weight released once it has left. */
    void completed(NbdCommand cmd, long cookie, long offset, long weight, Outcome o);

    /** A request's reply is written (or given to the pipeline, for a streamed read's last piece). */
    void requestDone();

    /** Bytes a request held are gone: waiting requests may start. */
    void released(long weight);

    /** Bytes already in memory (a streamed write's part): counted whatever the limits; reading pauses if over. */
    void holding(long bytes);

    /** Whether the connection was fenced: what still arrives is dropped. */
    boolean fenced();

    /**
     * A streamed read sent its last piece or failed (called once per read): the next simple streamed read may begin.
     * With simple replies only one streamed read runs at a time, so it is always the one that began last.
     */
    void streamDone();
}
