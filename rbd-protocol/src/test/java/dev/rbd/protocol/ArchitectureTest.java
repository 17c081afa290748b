package dev.rbd.protocol;

import static org.assertj.core.api.Assertions.assertThat;

import com.tngtech.archunit.core.domain.JavaClasses;
import org.junit.jupiter.api.Test;

class ArchitectureTest {
    private static final JavaClasses MAIN = SourceCycles.mainClasses("dev.rbd.protocol");

    @Test
    void sourceFilesImportEachOtherInOneDirectionOnly() {
        assertThat(MAIN).isNotEmpty();
        assertThat(SourceCycles.find(MAIN)).isEmpty();
    }
}
