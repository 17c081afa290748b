package dev.rbd.client.internal;

import java.util.ArrayList;
import java.util.List;

/** One of the session's connections, and the requests its death left waiting for its return; under its lock. */
final class Slot {
    final int index;
    /** The last epoch dialled: each reconnect attempt takes a new one, so the server fences older connections. */
    long epoch = 1;
    Connection connection;
    boolean reconnecting;
    final List<Request> orphans = new ArrayList<>();

    Slot(int index) {
        this.index = index;
    }
}
