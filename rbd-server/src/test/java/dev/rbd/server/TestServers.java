package dev.rbd.server;

import dev.rbd.server.export.Export;
import dev.rbd.server.export.ServerConfig;
import dev.rbd.server.store.BlockStore;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;

/** Starts in-process servers on a free loopback port. */
public final class TestServers {
    private TestServers() {
    }

    public static Export export(String name, BlockStore store, boolean readOnly) {
        return Export.builder(name, store).description(name + " for tests").readOnly(readOnly).build();
    }

    public static RbdServer start(Export... exports) throws Exception {
        return start(ServerConfig.defaults(List.of(new InetSocketAddress("127.0.0.1", 0)))
                .withHandshakeTimeout(Duration.ofSeconds(5)), exports);
    }

    public static RbdServer start(ServerConfig config, Export... exports) throws Exception {
        return new RbdServer(config, List.of(exports)).start();
    }
}
