package dev.rbd.server;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;

import dev.rbd.protocol.ModuleArchitecture;
import org.junit.jupiter.api.Test;

/**
 * The server's shape: the model below both handler packages, the commands on top (and, from
 * {@link ModuleArchitecture}, no cycles and no byte layouts).
 */
class ArchitectureTest extends ModuleArchitecture {
    ArchitectureTest() {
        super("dev.rbd.server");
    }

    @Test
    void theModelUsesNeitherHandlerPackageNorTheCommands() {
        noClasses().that().resideInAPackage("dev.rbd.server.export..")
                .should().dependOnClassesThat()
                .resideInAnyPackage("dev.rbd.server.handshake..", "dev.rbd.server.transmission..", "dev.rbd.server")
                .check(main());
    }

    @Test
    void onlyTheCommandsUseTheTopPackage() {
        noClasses().that().resideOutsideOfPackage("dev.rbd.server")
                .should().dependOnClassesThat().resideInAPackage("dev.rbd.server")
                .check(main());
    }

    @Test
    void theStoreKnowsNothingOfConnections() {
        noClasses().that().resideInAPackage("dev.rbd.server.store..")
                .should().dependOnClassesThat()
                .resideInAnyPackage("dev.rbd.server.export..", "dev.rbd.server.handshake..",
                        "dev.rbd.server.transmission..")
                .check(main());
    }

    @Test
    void handshakeAndTransmissionUseEachOtherOnlyToHandOver() {
        noClasses().that().resideInAPackage("dev.rbd.server.transmission..")
                .should().dependOnClassesThat().resideInAPackage("dev.rbd.server.handshake..")
                .check(main());
    }
}
