package dev.rbd.server.export;

import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.UUID;

/**
 * The rbd sessions seen on one export: for each session slot, the newest epoch and the connection holding it. The
 * least recently used sessions are forgotten past {@link #MAX_SESSIONS}.
 */
final class SessionSlots {
    /** Enough for every client a server plausibly has, small enough that forgotten clients cost little memory. */
    static final int MAX_SESSIONS = 4096;

    private final Map<UUID, Map<Integer, Slot>> sessions = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<UUID, Map<Integer, Slot>> eldest) {
            return size() > MAX_SESSIONS;
        }
    };

    private static final class Slot {
        long epoch;
        Connection holder;
    }

    /** The outcome of {@link #register}: the connection to fence first (may be {@code null}), or a refusal. */
    record Registration(Connection previous, long previousEpoch, String refusal) {
    }

    /**
     * Registers a connection of an rbd session on one of its slots. The epoch must be newer (unsigned) than every
     * epoch seen on that slot; the slot's previous connection, if any, is returned to be fenced.
     */
    synchronized Registration register(UUID session, int slot, long epoch, Connection conn) {
        Map<Integer, Slot> slots = sessions.computeIfAbsent(session, k -> new HashMap<>());
        Slot s = slots.get(slot);
        if (s != null && Long.compareUnsigned(epoch, s.epoch) <= 0) {
            return new Registration(null, s.epoch, "epoch " + Long.toUnsignedString(epoch) + " of "
                    + SessionTag.of(session) + " slot " + slot + " is not newer than " + Long.toUnsignedString(s.epoch)
                    + ": a stale connection");
        }
        if (s == null) {
            s = new Slot();
            slots.put(slot, s);
        }
        long previous = s.epoch;
        Connection old = s.holder;
        s.epoch = epoch;
        s.holder = conn;
        return new Registration(old, previous, null);
    }
}
