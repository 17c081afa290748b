package dev.rbd.cli.hostile;


import dev.rbd.protocol.RequiredTools;
import org.junit.jupiter.api.Assumptions;

/** External programs a test needs: a missing one skips the test loudly, and fails it in CI ({@code CI=true}). */
public final class Tools {
    private Tools() {
    }

    public static boolean onPath(String name) {
        return RequiredTools.onPath(name);
    }

    public static void require(String name, String why) {
        RequiredTools.require(name, "it is needed " + why);
    }
}
