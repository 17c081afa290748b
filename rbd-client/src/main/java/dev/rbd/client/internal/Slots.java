package dev.rbd.client.internal;

import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/** The session's slots, and the round robin over the live ones; guarded by the session's lock. */
final class Slots {
    private final Slot[] slots;
    private int next;

    /** @param first one established connection per slot, slot 0 first */
    Slots(List<Established> first) {
        slots = new Slot[first.size()];
        for (int i = 0; i < slots.length; i++) {
            slots[i] = new Slot(i);
            slots[i].connection = first.get(i).connection();
        }
    }

    Slot get(int index) {
        return slots[index];
    }

    /** The next live slot, round robin; {@code null} when none is live. */
    Slot pick() {
        for (int i = 0; i < slots.length; i++) {
            Slot s = slots[next++ % slots.length];
            if (s.connection != null) {
                return s;
            }
        }
        return null;
    }

    boolean allDead() {
        return Arrays.stream(slots).allMatch(s -> s.connection == null);
    }

    /** The live connections (fewer than the slots while some reconnect). */
    List<Connection> live() {
        return Arrays.stream(slots).map(s -> s.connection).filter(Objects::nonNull).toList();
    }

    /** Moves every slot's orphans into {@code into}. */
    void takeOrphans(List<Request> into) {
        for (Slot s : slots) {
            into.addAll(s.orphans);
            s.orphans.clear();
        }
    }
}
