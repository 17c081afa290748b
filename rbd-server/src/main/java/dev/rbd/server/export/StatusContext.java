package dev.rbd.server.export;

import dev.rbd.server.store.BlockStore;
import dev.rbd.server.store.Extents;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * The metadata contexts (spec: "Metadata querying") the server can answer {@code BLOCK_STATUS} for. Each has a fixed
 * context id, so a connection needs to remember only which were selected. Only {@code base:allocation} exists now; a
 * context a store can answer only sometimes (an overlay's allocation depth) says so in {@link #offeredBy}.
 */
public enum StatusContext {
    /** Holes and zeroes: the store's {@link BlockStore#allocation}. */
    BASE_ALLOCATION("base", "allocation", 1) {
        @Override
        public void describe(BlockStore store, Extents out) throws IOException {
            store.allocation(out);
        }
    };

    private final String namespace;
    private final String leaf;
    private final int id;

    StatusContext(String namespace, String leaf, int id) {
        this.namespace = namespace;
        this.leaf = leaf;
        this.id = id;
    }

    /** The context's full name, {@code namespace:leaf}. */
    public String contextName() {
        return namespace + ":" + leaf;
    }

    /** Its namespace, without the colon. */
    public String namespace() {
        return namespace;
    }

    /** The context id sent in META_CONTEXT replies and BLOCK_STATUS chunks. */
    public int id() {
        return id;
    }

    /** Whether the export can answer this context. */
    public boolean offeredBy(Export export) {
        return true;
    }

    /** Adds the extents of the range {@code out} describes, with this context's state flags. May block. */
    public abstract void describe(BlockStore store, Extents out) throws IOException;

    /** The contexts the export offers, in id order. */
    public static List<StatusContext> offered(Export export) {
        List<StatusContext> all = new ArrayList<>();
        for (StatusContext c : values()) {
            if (c.offeredBy(export)) {
                all.add(c);
            }
        }
        return all;
    }
}
