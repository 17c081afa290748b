package dev.rbd.cli.hostile;

/** The java executable running this test, for the processes the suite starts. */
final class Java {
    private Java() {
    }

    static String command() {
        return ProcessHandle.current().info().command()
                .orElseThrow(() -> new IllegalStateException("cannot tell which java runs this test"));
    }
}
