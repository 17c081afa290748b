package dev.rbd.cli;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.encoder.PatternLayoutEncoder;
import ch.qos.logback.classic.spi.Configurator;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.ConsoleAppender;
import ch.qos.logback.core.spi.ContextAwareBase;

/**
 * rbd-cli's logging, set up in code: quiet by default (a command's output is its result), RBD_LOG_LEVEL=INFO or
 * DEBUG to see more, on stderr. Reading a logback.xml loaded about 650 classes at every start (504 of logback's,
 * the rest an XML parser's); set up here, logback loads about 225 (none for --version, which asks for no logger).
 * A {@code -Dlogback.configurationFile} or a {@code logback-test.xml} on the class path still wins.
 */
public final class LogSetup extends ContextAwareBase implements Configurator {
    static final String PATTERN = "%d{HH:mm:ss.SSS} %-5level %logger{0} - %msg%n";

    @Override
    public ExecutionStatus configure(LoggerContext context) {
        if (configuredByFile()) {
            return ExecutionStatus.INVOKE_NEXT_IF_ANY;
        }
        setUp(context, System.getenv("RBD_LOG_LEVEL"));
        return ExecutionStatus.DO_NOT_INVOKE_NEXT_IF_ANY;
    }

    /** Whether logback's own search for a file should run instead: one is named, or a test put one in place. */
    static boolean configuredByFile() {
        return System.getProperty("logback.configurationFile") != null
                || LogSetup.class.getClassLoader().getResource("logback-test.xml") != null;
    }

    /** One appender on stderr for the root logger at {@code levelName} (see {@link #level}), Netty at WARN. */
    static void setUp(LoggerContext context, String levelName) {
        PatternLayoutEncoder encoder = new PatternLayoutEncoder();
        encoder.setContext(context);
        encoder.setPattern(PATTERN);
        encoder.start();
        ConsoleAppender<ILoggingEvent> stderr = new ConsoleAppender<>();
        stderr.setContext(context);
        stderr.setName("STDERR");
        stderr.setTarget("System.err");
        stderr.setEncoder(encoder);
        stderr.start();
        context.getLogger("io.netty").setLevel(Level.WARN);
        Logger root = context.getLogger(Logger.ROOT_LOGGER_NAME);
        root.setLevel(level(levelName));
        root.addAppender(stderr);
    }

    /** The root level named by RBD_LOG_LEVEL (TRACE, DEBUG, INFO, WARN, ERROR, OFF), WARN when unset or unknown. */
    static Level level(String name) {
        return name == null || name.isBlank() ? Level.WARN : Level.toLevel(name.trim(), Level.WARN);
    }
}
