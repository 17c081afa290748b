package dev.rbd.protocol.jmh;

/** JVM options every benchmark fork gets (named in each class's {@code @Fork}). */
final class Run {
    /** JMH's threads are made by {@link EventLoopThreads}, so that Netty treats them as it treats event loops. */
    static final String EXECUTOR = "-Djmh.executor=CUSTOM";
    static final String EXECUTOR_CLASS = "-Djmh.executor.class=dev.rbd.protocol.jmh.EventLoopThreads";
    /**
     * Netty's default leak detection tracks one buffer in 128 and takes a stack trace for each: noise in both time
     * and bytes per operation that is not the codec's. The tests run the same code at paranoid level.
     */
    static final String NO_LEAK_DETECTION = "-Dio.netty.leakDetection.level=disabled";
    /** A fixed heap, so the collector behaves the same in every run. */
    static final String HEAP_MIN = "-Xms1g";
    static final String HEAP_MAX = "-Xmx1g";

    private Run() {
    }
}
