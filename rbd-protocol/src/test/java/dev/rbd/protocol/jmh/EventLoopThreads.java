package dev.rbd.protocol.jmh;

import io.netty.util.concurrent.DefaultThreadFactory;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * Runs JMH's benchmark threads as Netty runs its event loops: as {@code FastThreadLocalThread}s. Netty 4.2 recycles
 * buffer objects (pooled buffers, their slices and duplicates) only on such threads and allocates a new one for
 * every buffer elsewhere; on a plain JMH thread the benchmarks would count allocations the server never makes.
 * JMH's custom executor ({@link Run#EXECUTOR}); its threads also get the pooled allocator's thread caches, as
 * event loops do.
 */
public final class EventLoopThreads extends ThreadPoolExecutor {
    /** The constructor JMH calls. */
    public EventLoopThreads(int maxThreads, String prefix) {
        super(maxThreads, maxThreads, 0, TimeUnit.MILLISECONDS, new LinkedBlockingQueue<>(),
                new DefaultThreadFactory(prefix, true));
    }
}
