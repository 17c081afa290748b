package dev.rbd.protocol;

import io.netty.buffer.AbstractByteBuf;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.util.ResourceLeakDetector;
import java.lang.reflect.Field;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Makes Netty's (paranoid) leak detector fail the test instead of only logging: a leak listener is attached to the
 * detector every {@link ByteBuf} allocator uses, and after each test the garbage collector is run and pending leak
 * reports are drained. A reported leak fails the test it was detected after.
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
        try {
            Field field = AbstractByteBuf.class.getDeclaredField("leakDetector");
            field.setAccessible(true);
            ResourceLeakDetector<?> detector = (ResourceLeakDetector<?>) field.get(null);
            detector.setLeakListener((resourceType, records) -> LEAKS.add(resourceType + ": " + records));
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot attach to Netty's ByteBuf leak detector", e);
        }
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
            ByteBuf probe = ByteBufAllocator.DEFAULT.directBuffer(1); // tracked: makes the detector report
            probe.release();
        }
        List<String> leaks = new ArrayList<>(LEAKS);
        LEAKS.removeAll(leaks);
        return leaks;
    }
}
