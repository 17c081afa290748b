package dev.rbd.server.export;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rbd.server.TestServers;
import dev.rbd.server.store.MemoryBlockStore;
import io.netty.channel.embedded.EmbeddedChannel;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** {@link Fencing#takeOver} on the model alone: slots, epochs, and fencing the previous holder. */
class TakeOverTest {
    private final Export disk = TestServers.export("disk", new MemoryBlockStore(4096), false);
    private final EmbeddedChannel oldChannel = new EmbeddedChannel();
    private final Connection old = new Connection("old", "127.0.0.1").bind(oldChannel);
    private final Connection next = new Connection("new", "127.0.0.2").bind(new EmbeddedChannel());

    @AfterEach
    void close() {
        oldChannel.finishAndReleaseAll();
        disk.close();
    }

    @Test
    void aFirstConnectionHasNothingToFence() {
        Fencing.TakeOver t = Fencing.takeOver(disk, UUID.randomUUID(), 0, 1, old);
        assertThat(t.refusal()).isNull();
        assertThat(t.fenced()).isCompletedWithValue(new Fenced(0, 0));
    }

    @Test
    void aNewerEpochFencesThePreviousHolderBeforeTheTakeOverCompletes() {
        UUID session = UUID.randomUUID();
        Fencing.TakeOver first = Fencing.takeOver(disk, session, 0, 1, old);
        assertThat(first.refusal()).isNull();
        Fencing.TakeOver second = Fencing.takeOver(disk, session, 0, 2, next);
        assertThat(second.refusal()).isNull();
        assertThat(second.fenced()).as("fencing runs on the old connection's event loop").isNotDone();
        oldChannel.runPendingTasks();
        assertThat(oldChannel.isOpen()).as("before transmission, fencing closes the channel").isFalse();
        assertThat(second.fenced()).isCompletedWithValue(new Fenced(0, 0));
    }

    @Test
    void aStaleEpochIsRefusedAndOtherSlotsAreIndependent() {
        UUID session = UUID.randomUUID();
        Fencing.takeOver(disk, session, 0, 5, old);
        assertThat(Fencing.takeOver(disk, session, 0, 5, next).refusal()).contains("stale");
        assertThat(Fencing.takeOver(disk, session, 0, 4, next).refusal()).contains("not newer than 5");
        assertThat(Fencing.takeOver(disk, session, 1, 1, next).refusal()).isNull();
        assertThat(Fencing.takeOver(disk, session, 0, -1L, next).refusal()).as("epochs compare unsigned").isNull();
    }
}
