package dev.rbd.server.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.rbd.server.store.OverlayMap.State;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class MemoryOverlayMapTest {
    private static List<String> runs(OverlayMap m, long first, long count) {
        List<String> out = new ArrayList<>();
        m.runs(first, count, (b, n, s) -> out.add(b + "+" + n + " " + s));
        return out;
    }

    @Test
    void setsRangesAcrossWordsAndVisitsRuns() {
        MemoryOverlayMap m = MemoryOverlayMap.forSize(300L * 4096 - 1);
        assertThat(m.blocks()).isEqualTo(300);
        m.set(60, 10, State.DATA);
        m.set(64, 128, State.ZERO);
        m.set(299, 1, State.DATA);
        assertThat(m.get(59)).isEqualTo(State.GOLDEN);
        assertThat(m.get(63)).isEqualTo(State.DATA);
        assertThat(m.get(64)).isEqualTo(State.ZERO);
        assertThat(runs(m, 0, 300)).containsExactly("0+60 GOLDEN", "60+4 DATA", "64+128 ZERO", "192+107 GOLDEN",
                "299+1 DATA");
        assertThat(runs(m, 100, 5)).containsExactly("100+5 ZERO");
        m.set(0, 300, State.GOLDEN);
        assertThat(runs(m, 0, 300)).containsExactly("0+300 GOLDEN");
        assertThatThrownBy(() -> m.set(299, 2, State.DATA)).isInstanceOf(IndexOutOfBoundsException.class);
    }

    @Test
    void randomSetsMatchAnArray() {
        int blocks = 1000;
        MemoryOverlayMap m = new MemoryOverlayMap(blocks);
        State[] model = new State[blocks];
        java.util.Arrays.fill(model, State.GOLDEN);
        Random r = new Random(1);
        for (int i = 0; i < 500; i++) {
            int first = r.nextInt(blocks);
            int count = r.nextInt(blocks - first + 1);
            State s = State.values()[r.nextInt(3)];
            m.set(first, count, s);
            java.util.Arrays.fill(model, first, first + count, s);
        }
        List<String> expected = new ArrayList<>();
        int start = 0;
        for (int b = 1; b <= blocks; b++) {
            if (b == blocks || model[b] != model[start]) {
                expected.add(start + "+" + (b - start) + " " + model[start]);
                start = b;
            }
        }
        assertThat(runs(m, 0, blocks)).isEqualTo(expected);
        for (int b = 0; b < blocks; b++) {
            assertThat(m.get(b)).isEqualTo(model[b]);
        }
    }
}
