package dev.rbd.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.util.ResourceLeakDetector;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Makes Netty's (paranoid) leak detector fail the test instead of only logging: a leak listener is attached to the
 * detector every {@link ByteBuf} allocator uses, and after each test the garbage collector is run and pending leak
 * reports are drained. A reported leak fails the test it was detected after. The protocol tests name it with
 * {@code @ExtendWith}; the server and client modules get it from this module's test jar, registered for every test
 * through the service loader.
 */
public final class NettyLeakCheck implements BeforeAllCallback, AfterEachCallback {
    private static final List<String> LEAKS = new CopyOnWriteArrayList<>();
    private static boolean installed;

    @Override
    public void beforeAll(ExtensionContext context) {
        install();
    }

    @Override
    public void afterEach(ExtensionContext context) {
        List<String> leaks = collectLeaks(3);
        if (!leaks.isEmpty()) {
            throw new AssertionError("ByteBuf leak(s) detected after " + context.getDisplayName() + ":\n"
                    + String.join("\n----\n", leaks));
        }
    }

    /** Attaches the listener once per JVM and makes sure every allocation is tracked. */
    public static synchronized void install() {
        if (installed) {
            return;
        }
        ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.PARANOID);
        ByteBufUtil.setLeakListener((resourceType, records) -> LEAKS.add(resourceType + ": " + records));
        installed = true;
    }

    /**
     * Runs the collector {@code rounds} times, each time allocating a tracked buffer (the detector reports leaks
     * when it tracks a new object), and returns and forgets the leaks reported so far.
     */
    public static List<String> collectLeaks(int rounds) {
        for (int i = 0; i < rounds; i++) {
            System.gc();
            try {
                Thread.sleep(5);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
            // tracked allocations make the detector poll its queue and report
            for (ByteBufAllocator a : new ByteBufAllocator[] {ByteBufAllocator.DEFAULT, PooledByteBufAllocator.DEFAULT}) {
                ByteBuf probe = a.directBuffer(1);
                probe.release();
            }
        }
        List<String> leaks = new ArrayList<>(LEAKS);
        LEAKS.removeAll(leaks);
        return leaks;
    }
}
