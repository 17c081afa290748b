package dev.rbd.server;

import java.time.Duration;
import java.util.function.BooleanSupplier;

/** Waiting for a condition in tests, instead of sleeping for a guessed time. */
public final class Await {
    private Await() {
    }

    /** Polls {@code condition} every 10 ms until it holds; fails after 30 s, naming {@code what}. */
    public static void until(String what, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for " + what);
            }
            Thread.sleep(10);
        }
    }
}
