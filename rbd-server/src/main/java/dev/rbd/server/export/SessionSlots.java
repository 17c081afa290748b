package dev.rbd.server.export;

import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.UUID;

/**
 * The rbd sessions seen on one export: the TLS identity (or none) of the client that first registered each, and for
 * each session slot, the newest epoch and the connection holding it. The least recently used sessions are forgotten
 * past {@link #MAX_SESSIONS}.
 */
final class SessionSlots {
    /** Enough for every client a server plausibly has, small enough that forgotten clients cost little memory. */
    static final int MAX_SESSIONS = 4096;

    /** Refused to a client whose identity is not the session's: says nothing of the session, its id or its tag. */
    static final String NOT_YOURS = "this rbd session belongs to another client identity";

    private final Map<UUID, Session> sessions = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<UUID, Session> eldest) {
            return size() > MAX_SESSIONS;
        }
    };

    private static final class Session {
        /** The TLS identity of the connection that first registered the session, or {@code null}. */
        final String identity;
        final Map<Integer, Slot> slots = new HashMap<>();

        Session(String identity) {
            this.identity = identity;
        }
    }

    private static final class Slot {
        long epoch;
        Connection holder;
    }

    /** The outcome of {@link #register}: the connection to fence first (may be {@code null}), or a refusal. */
    record Registration(Connection previous, long previousEpoch, String refusal) {
    }

    /**
     * Registers a connection of an rbd session on one of its slots. The connection must have the TLS identity (or
     * none) the session was first registered with, and the epoch must be newer (unsigned) than every epoch seen on
     * that slot; the slot's previous connection, if any, is returned to be fenced.
     */
    synchronized Registration register(UUID session, int slot, long epoch, Connection conn) {
        String identity = conn.identity();
        Session known = sessions.computeIfAbsent(session, k -> new Session(identity));
        if (!Objects.equals(known.identity, identity)) {
            // checked first: another identity learns nothing of the session's epochs or slots
            return new Registration(null, 0, NOT_YOURS);
        }
        Map<Integer, Slot> slots = known.slots;
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
