package dev.rbd.server;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.PooledByteBufAllocator;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Fails a test class when Netty's leak detector (at paranoid in tests) reported a buffer that was garbage collected
 * without being released. Registered for every test class through the service loader.
 */
public final class LeakCheckExtension implements BeforeAllCallback, AfterAllCallback {
    private static final List<String> LEAKS = new ArrayList<>();

    static {
        ByteBufUtil.setLeakListener((type, records) -> {
            synchronized (LEAKS) {
                LEAKS.add(type + ": " + records);
            }
        });
    }

    @Override
    public void beforeAll(ExtensionContext context) {
        synchronized (LEAKS) {
            LEAKS.clear();
        }
    }

    @Override
    public void afterAll(ExtensionContext context) throws InterruptedException {
        // Leaks are reported when a collected, unreleased buffer's tracker is polled by a later allocation.
        for (int round = 0; round < 3; round++) {
            System.gc();
            Thread.sleep(50); // let the reference queue fill after GC; there is no condition to await here
            for (ByteBufAllocator a : new ByteBufAllocator[] {PooledByteBufAllocator.DEFAULT,
                ByteBufAllocator.DEFAULT}) {
                ByteBuf probe = a.directBuffer(1);
                probe.release();
                probe = a.heapBuffer(1);
                probe.release();
            }
        }
        synchronized (LEAKS) {
            if (!LEAKS.isEmpty()) {
                String report = String.join("\n", LEAKS);
                LEAKS.clear();
                throw new AssertionError(context.getDisplayName() + " leaked buffers:\n" + report);
            }
        }
    }
}
