package io.loraplex.router;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.typesafe.config.ConfigFactory;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class ConnectionSettingsTest {

    @Test
    void theDefaultsBoundIdleAndTrickledConnectionsInSeconds() {
        ConnectionSettings s = ConnectionSettings.create(ConfigFactory.defaultReference());
        assertEquals(4096, s.max());
        assertEquals(Duration.ofSeconds(10), s.firstRequestTimeout());
        assertEquals(Duration.ofSeconds(5), s.headerTimeout());
        assertEquals(Duration.ofSeconds(60), s.keepAliveTimeout());
        assertEquals(1024, s.backlog());
        assertEquals(Duration.ofSeconds(10), s.logInterval());
        assertEquals(Duration.ofSeconds(5), RouterSettings.create(ConfigFactory.defaultReference()).noNodeRetryAfter());
    }

    @Test
    void aZeroHeaderTimeoutIsRefusedNamingTheKey() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ConnectionSettings.create(ConfigFactory
                .parseString("loraplex.router.connections.header-timeout = 0 s").withFallback(ConfigFactory.defaultReference())));
        assertEquals("loraplex.router.connections.header-timeout must be positive, got PT0S", e.getMessage());
    }

    @Test
    void aMaximumOfNoConnectionsIsRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ConnectionSettings.create(ConfigFactory
                .parseString("loraplex.router.connections.max = 0").withFallback(ConfigFactory.defaultReference())));
        assertEquals("loraplex.router.connections.max must be positive, got 0", e.getMessage());
    }
}
