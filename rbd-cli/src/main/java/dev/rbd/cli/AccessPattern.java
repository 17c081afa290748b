package dev.rbd.cli;

import java.util.Locale;
import java.util.random.RandomGenerator;

/** What a benchmark sends, named as fio names its {@code --rw} modes. */
public enum AccessPattern {
    RANDREAD(true, false),
    RANDWRITE(true, true),
    /** Half reads, half writes, like fio's default {@code rwmixread=50}. */
    RANDRW(true, true),
    READ(false, false),
    WRITE(false, true);

    private final boolean random;
    private final boolean writes;

    AccessPattern(boolean random, boolean writes) {
        this.random = random;
        this.writes = writes;
    }

    public boolean random() {
        return random;
    }

    /** Whether the pattern writes at all (and so may destroy data). */
    public boolean writes() {
        return writes;
    }

    /** Whether the next request is a write: always, never, or by a coin toss for {@link #RANDRW}. */
    public boolean nextIsWrite(RandomGenerator random) {
        return this == RANDRW ? random.nextBoolean() : writes;
    }

    @Override
    public String toString() {
        return name().toLowerCase(Locale.ROOT);
    }
}
