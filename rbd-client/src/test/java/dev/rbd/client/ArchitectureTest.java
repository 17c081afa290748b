package dev.rbd.client;

import static org.assertj.core.api.Assertions.assertThat;

import com.tngtech.archunit.core.domain.JavaClasses;
import dev.rbd.protocol.ByteLayouts;
import dev.rbd.protocol.SourceCycles;
import org.junit.jupiter.api.Test;

class ArchitectureTest {
    private static final JavaClasses MAIN = SourceCycles.mainClasses("dev.rbd.client");

    @Test
    void sourceFilesImportEachOtherInOneDirectionOnly() {
        assertThat(MAIN).isNotEmpty();
        assertThat(SourceCycles.find(MAIN)).isEmpty();
    }

    @Test
    void noNbdPayloadIsWrittenOrParsedByHand() {
        assertThat(ByteLayouts.handWritten(MAIN)).isEmpty();
    }
}
