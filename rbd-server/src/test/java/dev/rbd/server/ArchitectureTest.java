package dev.rbd.server;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static org.assertj.core.api.Assertions.assertThat;

import com.tngtech.archunit.core.domain.JavaClasses;
import dev.rbd.protocol.ByteLayouts;
import dev.rbd.protocol.SourceCycles;
import org.junit.jupiter.api.Test;

/** The server's shape: the model below both handler packages, the commands on top, no cycles, no byte layouts. */
class ArchitectureTest {
    private static final JavaClasses MAIN = SourceCycles.mainClasses("dev.rbd.server");

    @Test
    void sourceFilesImportEachOtherInOneDirectionOnly() {
        assertThat(MAIN).isNotEmpty();
        assertThat(SourceCycles.find(MAIN)).isEmpty();
    }

    @Test
    void theModelUsesNeitherHandlerPackageNorTheCommands() {
        noClasses().that().resideInAPackage("dev.rbd.server.export..")
                .should().dependOnClassesThat()
                .resideInAnyPackage("dev.rbd.server.handshake..", "dev.rbd.server.transmission..", "dev.rbd.server")
                .check(MAIN);
    }

    @Test
    void onlyTheCommandsUseTheTopPackage() {
        noClasses().that().resideOutsideOfPackage("dev.rbd.server")
                .should().dependOnClassesThat().resideInAPackage("dev.rbd.server")
                .check(MAIN);
    }

    @Test
    void theStoreKnowsNothingOfConnections() {
        noClasses().that().resideInAPackage("dev.rbd.server.store..")
                .should().dependOnClassesThat()
                .resideInAnyPackage("dev.rbd.server.export..", "dev.rbd.server.handshake..",
                        "dev.rbd.server.transmission..")
                .check(MAIN);
    }

    @Test
    void handshakeAndTransmissionUseEachOtherOnlyToHandOver() {
        noClasses().that().resideInAPackage("dev.rbd.server.transmission..")
                .should().dependOnClassesThat().resideInAPackage("dev.rbd.server.handshake..")
                .check(MAIN);
    }

    @Test
    void noNbdPayloadIsWrittenOrParsedByHand() {
        assertThat(ByteLayouts.handWritten(MAIN)).isEmpty();
    }
}
