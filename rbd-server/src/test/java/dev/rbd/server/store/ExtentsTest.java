package dev.rbd.server.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class ExtentsTest {
    @Test
    void mergesAdjacentExtentsWithTheSameFlagsAndClipsAtTheEnd() {
        Extents e = new Extents(100, 1000, 10);
        assertThat(e.add(200, 3)).isFalse();
        assertThat(e.add(300, 3)).isFalse();
        assertThat(e.add(100, 0)).isFalse();
        assertThat(e.position()).isEqualTo(700);
        assertThat(e.add(5000, 3)).isTrue();
        assertThat(e.count()).isEqualTo(3);
        assertThat(e.length(0)).isEqualTo(500);
        assertThat(e.length(1)).isEqualTo(100);
        assertThat(e.length(2)).isEqualTo(400);
        assertThat(e.covered()).isEqualTo(1000);
        assertThat(e.add(10, 0)).as("nothing more once full").isTrue();
        assertThat(e.count()).isEqualTo(3);
    }

    @Test
    void stopsAtTheCapWithThePartDescribedSoFar() {
        Extents e = new Extents(0, 1 << 20, 2);
        e.add(10, 0);
        e.add(10, 3);
        assertThat(e.add(10, 3)).isFalse(); // merged into the second
        assertThat(e.add(10, 0)).isTrue();
        assertThat(e.count()).isEqualTo(2);
        assertThat(e.covered()).isEqualTo(30);
    }

    @Test
    void growsPastItsFirstArrays() {
        Extents e = new Extents(0, 1000, 1000);
        for (int i = 0; i < 100; i++) {
            e.add(1, i % 2);
        }
        assertThat(e.count()).isEqualTo(100);
        assertThat(e.flags(99)).isEqualTo(1);
    }

    @Test
    void refusesEmptyRangesAndZeroCaps() {
        assertThatThrownBy(() -> new Extents(0, 0, 1)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new Extents(0, 1, 0)).isInstanceOf(IllegalArgumentException.class);
    }
}
