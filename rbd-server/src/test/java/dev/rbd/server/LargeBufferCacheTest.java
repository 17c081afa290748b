package dev.rbd.server;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** rbd-server's main lets the pool's thread caches keep large read buffers, unless the user chose otherwise. */
class LargeBufferCacheTest {
    private static final String KEY = "io.netty.allocator.maxCachedBufferCapacity";
    private String saved;

    @BeforeEach
    void save() {
        saved = System.getProperty(KEY);
    }

    @AfterEach
    void restore() {
        if (saved == null) {
            System.clearProperty(KEY);
        } else {
            System.setProperty(KEY, saved);
        }
    }

    @Test
    void setsTheCapacityWhenUnset() {
        System.clearProperty(KEY);
        RbdServerMain.cacheLargeBuffers();
        assertThat(System.getProperty(KEY)).isEqualTo(RbdServerMain.MAX_CACHED);
        assertThat(Integer.parseInt(RbdServerMain.MAX_CACHED))
                .isEqualTo(dev.rbd.protocol.codec.RequestDecoder.FILL_LIMIT);
    }

    @Test
    void keepsTheUsersChoice() {
        System.setProperty(KEY, "65536");
        RbdServerMain.cacheLargeBuffers();
        assertThat(System.getProperty(KEY)).isEqualTo("65536");
    }
}
