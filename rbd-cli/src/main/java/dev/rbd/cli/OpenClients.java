package dev.rbd.cli;

import dev.rbd.client.ClientOptions;
import dev.rbd.client.RbdClient;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The clients rbd-cli has open, so that SIGINT or SIGTERM lets go of them cleanly whatever the command: a shutdown
 * hook abandons what is in flight and sends DISC on every connection (each client within
 * {@link RbdClient#DISCONNECT_WAIT}, all at once), so rbd-server frees the export at once instead of holding it
 * for a reconnect. The JVM then exits with 128 + the signal's number: 130 for SIGINT, 143 for SIGTERM.
 */
final class OpenClients {
    static final String INTERRUPTED = "rbd-cli: interrupted";

    private static final Object LOCK = new Object();
    private static final Set<RbdClient> OPEN = ConcurrentHashMap.newKeySet();
    private static volatile boolean exiting;
    private static volatile boolean interrupted;
    /** Connects under way; guarded by LOCK. A signal waits for them: their first connection may hold the slot. */
    private static int connecting;

    private OpenClients() {
    }

    /** Connects, and keeps the client to disconnect on a signal. */
    static RbdClient connect(String uri, ClientOptions options) {
        synchronized (LOCK) {
            if (interrupted) {
                throw new IllegalStateException("interrupted");
            }
            connecting++;
        }
        RbdClient c = null;
        try {
            c = RbdClient.connect(uri, options);
            return c;
        } finally {
            synchronized (LOCK) {
                connecting--;
                if (c != null) {
                    OPEN.add(c);
                }
                LOCK.notifyAll();
            }
        }
    }

    /** Installs the shutdown hook (from {@code main} only: in-process callers keep their JVM); returns its argument. */
    static String[] disconnectOnSignal(String[] args) {
        Runtime.getRuntime().addShutdownHook(new Thread(OpenClients::onShutdown, "rbd-cli-interrupted"));
        return args;
    }

    /** The command finished by itself: the hook has nothing to do. Returns its argument. */
    static int exitingWith(int status) {
        exiting = true;
        return status;
    }

    /** Whether a signal is ending the program: the command's own failures then go unreported. */
    static boolean interrupted() {
        return interrupted;
    }

    private static void onShutdown() {
        if (exiting) {
            return;
        }
        interrupted = true;
        System.err.println(INTERRUPTED);
        System.err.flush();
        long deadline = System.nanoTime() + RbdClient.DISCONNECT_WAIT.toNanos() + 1_000_000_000L;
        List<RbdClient> open;
        synchronized (LOCK) {
            try {
                long left;
                while (connecting > 0 && (left = (deadline - System.nanoTime()) / 1_000_000) > 0) {
                    LOCK.wait(left);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            open = new ArrayList<>(OPEN);
        }
        deadline = System.nanoTime() + RbdClient.DISCONNECT_WAIT.toNanos() + 1_000_000_000L;
        List<Thread> closing = new ArrayList<>();
        for (RbdClient c : open) {
            Thread t = new Thread(c::abandon, "rbd-cli-disconnect");
            t.setDaemon(true);
            t.start();
            closing.add(t);
        }
        for (Thread t : closing) {
            long left = (deadline - System.nanoTime()) / 1_000_000;
            if (left <= 0) {
                break;
            }
            try {
                t.join(left);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }
}
