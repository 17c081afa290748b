package dev.rbd.server.export;

import dev.rbd.server.store.BlockStore;
import dev.rbd.server.store.Extents;
import dev.rbd.server.store.OverlayBlockStore;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * The metadata contexts (spec: "Metadata querying") the server can answer {@code BLOCK_STATUS} for. Each has a fixed
 * context id, so a connection needs to remember only which were selected. A context only some exports can answer (an
 * overlay's allocation depth) says so in {@link #offeredBy}, which decides from the export's configuration: LIST and
 * SET come before GO has made a connection's overlay.
 */
public enum StatusContext {
    /** Holes and zeroes: the store's {@link BlockStore#allocation}. */
    BASE_ALLOCATION("base", "allocation", 1) {
        @Override
        public void describe(BlockStore store, Extents out) throws IOException {
            store.allocation(out);
        }
    },
    /**
     * qemu's allocation depth (qemu's docs/interop/nbd.txt), for overlay exports only: 1 for blocks this client wrote,
     * trimmed or zeroed, 2 for golden blocks the golden image has data for, 0 for golden blocks it has a hole in.
     */
    QEMU_ALLOCATION_DEPTH("qemu", "allocation-depth", 2) {
        @Override
        public boolean offeredBy(Export export) {
            return export.temporaryOverlays() || export.store() instanceof OverlayBlockStore;
        }

        @Override
        public void describe(BlockStore store, Extents out) throws IOException {
            if (!(store instanceof OverlayBlockStore overlay)) {
                throw new IllegalStateException(contextName() + " asked of a store that is no overlay: "
                        + store.describe());
            }
            long[] pos = {out.position()};
            overlay.runs(pos[0], out.remaining(), (n, state) -> {
                if (!out.full()) {
                    switch (state) {
                        case DATA, ZERO -> out.add(n, DEPTH_OVERLAY);
                        case GOLDEN -> {
                            Extents golden = new Extents(pos[0], n, Integer.MAX_VALUE);
                            overlay.golden().allocation(golden);
                            for (int i = 0; i < golden.count(); i++) {
                                boolean hole = (golden.flags(i) & BlockStore.STATE_HOLE) != 0;
                                out.add(golden.length(i), hole ? DEPTH_NONE : DEPTH_GOLDEN);
                            }
                            if (golden.covered() < n) {
                                out.add(n - golden.covered(), DEPTH_GOLDEN);   // what the golden left undescribed: data
                            }
                        }
                    }
                }
                pos[0] += n;
            });
        }
    };

    /** {@code qemu:allocation-depth} values (the extent's whole state word): a hole in the golden image too. */
    public static final int DEPTH_NONE = 0;
    /** Written, trimmed or zeroed by this client: in its overlay. */
    public static final int DEPTH_OVERLAY = 1;
    /** Data of the golden image, the overlay's backing. */
    public static final int DEPTH_GOLDEN = 2;

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
