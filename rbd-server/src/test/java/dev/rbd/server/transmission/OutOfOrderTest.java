package dev.rbd.server.transmission;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rbd.protocol.NbdCommand;
import dev.rbd.server.RawNbdClient;
import dev.rbd.server.RawNbdClient.Reply;
import dev.rbd.server.RbdServer;
import dev.rbd.server.TestServers;
import dev.rbd.server.store.MemoryBlockStore;
import dev.rbd.server.store.RecordingStore;
import io.netty.buffer.ByteBuf;
import java.io.IOException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Requests run concurrently: a slow one does not hold back the replies of those sent after it. */
class OutOfOrderTest {
    @Test
    void aLaterFastReadIsAnsweredBeforeAnEarlierSlowOne() throws Exception {
        CountDownLatch slowStarted = new CountDownLatch(1);
        CountDownLatch releaseSlow = new CountDownLatch(1);
        RecordingStore store = new RecordingStore(new MemoryBlockStore(1 << 20)) {
            @Override
            public void read(long offset, ByteBuf dst, int length) throws IOException {
                if (offset == 0) {
                    slowStarted.countDown();
                    try {
                        if (!releaseSlow.await(10, TimeUnit.SECONDS)) {
                            throw new IOException("never released");
                        }
                    } catch (InterruptedException e) {
                        throw new IOException(e);
                    }
                }
                super.read(offset, dst, length);
            }
        };
        RbdServer server = TestServers.start(TestServers.export("disk", store, false));
        try (RawNbdClient c = new RawNbdClient(server.port()).open("disk", false)) {
            c.request(0, NbdCommand.READ.code(), 1, 0, 512, null);
            assertThat(slowStarted.await(5, TimeUnit.SECONDS)).isTrue();
            c.request(0, NbdCommand.READ.code(), 2, 4096, 512, null);
            Reply first = c.readReply(512);
            assertThat(first.cookie()).as("the later request's reply comes first").isEqualTo(2);
            releaseSlow.countDown();
            Reply second = c.readReply(512);
            assertThat(second.cookie()).isEqualTo(1);
            assertThat(second.error()).isZero();
        } finally {
            releaseSlow.countDown();
            server.close();
        }
    }
}
