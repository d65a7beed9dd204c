package io.loraplex.simulations.load;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.LoggingEvent;
import ch.qos.logback.core.OutputStreamAppender;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/** The failed-request dumps the simulations log (logback-test.xml) never carry a key. */
class LogMaskingTest {

    @Test
    void aBearerKeyInAFailedRequestDumpIsMasked() {
        LoggerContext context = (LoggerContext) LoggerFactory.getILoggerFactory();
        @SuppressWarnings("unchecked")
        OutputStreamAppender<ILoggingEvent> console =
                (OutputStreamAppender<ILoggingEvent>) context.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME).getAppender("CONSOLE");
        LoggingEvent dump = new LoggingEvent("test", context.getLogger("io.gatling.http.engine.response"), Level.DEBUG,
                "Request:\nPOST http://127.0.0.1:1/v1/admin/tenants\nauthorization: Bearer lpx-admin-secret-123\nauthorization=BEARER other-key", null, null);

        String line = new String(console.getEncoder().encode(dump), StandardCharsets.UTF_8);

        assertFalse(line.contains("lpx-admin-secret-123"), line);
        assertFalse(line.contains("other-key"), line);
        assertTrue(line.contains("Bearer ***"), line);
    }
}
