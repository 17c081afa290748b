package dev.rbd.client.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rbd.client.internal.OverlapIndex.Admission;
import org.junit.jupiter.api.Test;

class OverlapIndexTest {
    private final OverlapIndex index = new OverlapIndex();

    @Test
    void overlappingWritesRunOneAfterTheOther() {
        Admission a = index.admit(0, 4096, true);
        Admission b = index.admit(2048, 4096, true);
        Admission c = index.admit(5000, 10, true);
        assertThat(a.ready()).isDone();
        assertThat(b.ready()).isNotDone();
        assertThat(c.ready()).as("c overlaps b, which is still pending").isNotDone();
        a.entry().release();
        assertThat(b.ready()).isDone();
        assertThat(c.ready()).isNotDone();
        b.entry().release();
        assertThat(c.ready()).isDone();
        c.entry().release();
        assertThat(index.size()).isZero();
    }

    @Test
    void readsWaitForOverlappingWritesButNotForEachOther() {
        Admission w = index.admit(100, 100, true);
        Admission r1 = index.admit(150, 10, false);
        Admission r2 = index.admit(150, 10, false);
        Admission far = index.admit(200, 100, false);
        assertThat(r1.ready()).isNotDone();
        assertThat(r2.ready()).isNotDone();
        assertThat(far.ready()).as("[200, 300) does not touch [100, 200)").isDone();
        w.entry().release();
        assertThat(r1.ready()).isDone();
        assertThat(r2.ready()).isDone();
        Admission w2 = index.admit(0, 1000, true);
        assertThat(w2.ready()).as("a write waits for earlier overlapping reads").isNotDone();
        r1.entry().release();
        r2.entry().release();
        far.entry().release();
        assertThat(w2.ready()).isDone();
    }

    @Test
    void rangesAreUnsignedAndZeroLengthConflictsWithNothing() {
        Admission top = index.admit(-4096L, 4096, true); // [2^64 - 4096, 2^64)
        assertThat(index.admit(-1L, 1, true).ready()).isNotDone();
        assertThat(index.admit(Long.MAX_VALUE, 10, true).ready()).as("2^63-1 is below 2^64-4096").isDone();
        assertThat(index.admit(-2048L, 0, true).ready()).isDone();
        Admission wrap = index.admit(-10L, 100, true); // would wrap: clamped at the top
        assertThat(wrap.ready()).isNotDone();
        top.entry().release();
    }
}
