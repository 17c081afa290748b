package dev.rbd.server;

import dev.rbd.server.store.BlockStore;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;

/** Starts in-process servers on a free loopback port. */
public final class TestServers {
    private TestServers() {
    }

    public static Export export(String name, BlockStore store, boolean readOnly) {
        return new Export(name, name + " for tests", store, readOnly, false, SyncMode.ALWAYS, BlockSizes.DEFAULT);
    }

    public static RbdServer start(Export... exports) throws Exception {
        return start(ServerConfig.defaults(List.of(new InetSocketAddress("127.0.0.1", 0)))
                .withHandshakeTimeout(Duration.ofSeconds(5)), exports);
    }

    public static RbdServer start(ServerConfig config, Export... exports) throws Exception {
        return new RbdServer(config, List.of(exports)).start();
    }
}
