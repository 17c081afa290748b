package dev.rbd.cli;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.encoder.PatternLayoutEncoder;
import ch.qos.logback.classic.spi.Configurator;
import ch.qos.logback.core.ConsoleAppender;
import java.util.ServiceLoader;
import org.junit.jupiter.api.Test;

/** rbd-cli's logging set up in code: what logback.xml used to say, and the tests' own file still winning. */
class LogSetupTest {
    @Test
    void setsUpQuietStderrLoggingWithNettyAtWarn() {
        LoggerContext context = new LoggerContext();
        LogSetup.setUp(context, null);
        Logger root = context.getLogger(Logger.ROOT_LOGGER_NAME);
        assertThat(root.getLevel()).isEqualTo(Level.WARN);
        assertThat(context.getLogger("io.netty").getLevel()).isEqualTo(Level.WARN);
        ConsoleAppender<?> stderr = (ConsoleAppender<?>) root.getAppender("STDERR");
        assertThat(stderr.isStarted()).isTrue();
        assertThat(stderr.getTarget()).isEqualTo("System.err");
        assertThat(((PatternLayoutEncoder) stderr.getEncoder()).getPattern()).isEqualTo(LogSetup.PATTERN);
        context.stop();
    }

    @Test
    void theLevelComesFromRbdLogLevel() {
        assertThat(LogSetup.level("DEBUG")).isEqualTo(Level.DEBUG);
        assertThat(LogSetup.level(" info ")).isEqualTo(Level.INFO);
        assertThat(LogSetup.level("OFF")).isEqualTo(Level.OFF);
        assertThat(LogSetup.level("")).isEqualTo(Level.WARN);
        assertThat(LogSetup.level("loud")).isEqualTo(Level.WARN);
    }

    @Test
    void isFoundByLogbackAndLeavesTheTestsFileInCharge() {
        assertThat(ServiceLoader.load(Configurator.class).stream().map(p -> p.type().getName()))
                .contains(LogSetup.class.getName());
        assertThat(LogSetup.configuredByFile()).isTrue(); // logback-test.xml
        assertThat(new LogSetup().configure(new LoggerContext()))
                .isEqualTo(Configurator.ExecutionStatus.INVOKE_NEXT_IF_ANY);
    }
}
