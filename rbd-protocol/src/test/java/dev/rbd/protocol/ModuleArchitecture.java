package dev.rbd.protocol;

import static org.assertj.core.api.Assertions.assertThat;

import com.tngtech.archunit.core.domain.JavaClasses;
import org.junit.jupiter.api.Test;

/**
 * The architecture rules every module above rbd-protocol keeps: no import cycles between its source files, and no
 * NBD byte layout written or parsed by hand. A module's {@code ArchitectureTest} extends it, naming its root
 * package, and adds its own rules over {@link #main()}.
 */
public abstract class ModuleArchitecture {
    private final JavaClasses main;

    protected ModuleArchitecture(String rootPackage) {
        this.main = SourceCycles.mainClasses(rootPackage);
    }

    /** The module's main classes. */
    protected JavaClasses main() {
        return main;
    }

    @Test
    void sourceFilesImportEachOtherInOneDirectionOnly() {
        assertThat(main).isNotEmpty();
        assertThat(SourceCycles.find(main)).isEmpty();
    }

    @Test
    void noNbdPayloadIsWrittenOrParsedByHand() {
        assertThat(ByteLayouts.handWritten(main)).isEmpty();
    }
}
