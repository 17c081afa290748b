package dev.rbd.client;

import dev.rbd.protocol.ModuleArchitecture;

/** No import cycles, no hand-written byte layouts (see {@link ModuleArchitecture}). */
class ArchitectureTest extends ModuleArchitecture {
    ArchitectureTest() {
        super("dev.rbd.client");
    }
}
