package io.loraplex.router;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class RouterSettingsTest {

    @Test
    void defaultsFromReferenceConf() {
        RouterSettings s = RouterSettings.create(ConfigFactory.defaultReference());
        assertEquals("127.0.0.1", s.host());
        assertEquals(8080, s.port());
        assertEquals(1024 * 1024, s.maxBodyBytes());
        assertEquals(20, s.maxAdapterSeries());
        assertEquals(16, s.completionsDefaultMaxTokens());
        assertEquals(Duration.ofSeconds(1), s.statsInterval());
        assertTrue(s.baseModels().isEmpty());
        assertEquals(512L << 20, s.maxAdapterUploadBytes());
        assertEquals("", s.adminKeySha256());
    }

    @Test
    void adminKeyIsASha256OrNothing() {
        String hash = "A".repeat(64);
        RouterSettings s = RouterSettings.create(ConfigFactory.parseString("loraplex.router.admin-key-sha256 = \"" + hash + "\"")
                .withFallback(ConfigFactory.defaultReference()));
        assertEquals("a".repeat(64), s.adminKeySha256());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> RouterSettings.create(ConfigFactory
                .parseString("loraplex.router.admin-key-sha256 = \"my-admin-key\"").withFallback(ConfigFactory.defaultReference())));
        assertTrue(e.getMessage().contains("admin-key-sha256"));
    }

    @Test
    void overridesAndValidation() {
        RouterSettings s = RouterSettings.create(ConfigFactory.parseString(
                "loraplex.router { port = 9000, max-body-bytes = 64 KiB, base-models = [\"b\"] }").withFallback(ConfigFactory.defaultReference()));
        assertEquals(9000, s.port());
        assertEquals(65536, s.maxBodyBytes());
        assertEquals(java.util.List.of("b"), s.baseModels());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> RouterSettings.create(ConfigFactory
                .parseString("loraplex.router { idle-timeout = 1 minute }").withFallback(ConfigFactory.defaultReference())));
        assertTrue(e.getMessage().contains("idle-timeout"));
    }

    @Test
    void placementAndSessionSettingsAreReadHereWithTheirDefaults() {
        RouterSettings s = RouterSettings.create(ConfigFactory.defaultReference());
        assertEquals(1.25, s.loadFactor());
        assertEquals(4, s.loadSlack());
        assertEquals(3, s.maxAttempts());
        assertEquals(Duration.ofSeconds(60), s.operationTimeout());
        assertEquals(Duration.ofMinutes(10), s.drainTimeout());
        assertEquals(Duration.ofMinutes(30), s.sessionIdleTimeout());
        assertEquals(100_000, s.maxSessions());
        RouterSettings once = RouterSettings.create(ConfigFactory.parseString("loraplex.router.placement.max-attempts = 0")
                .withFallback(ConfigFactory.defaultReference()));
        assertEquals(1, once.maxAttempts(), "a generation is tried on one node at least");
    }

    @Test
    void aLoadFactorBelowOneOrANegativeSlackIsRefusedNamingTheSetting() {
        IllegalArgumentException factor = assertThrows(IllegalArgumentException.class, () -> RouterSettings.create(ConfigFactory
                .parseString("loraplex.router.placement.load-factor = 0.5").withFallback(ConfigFactory.defaultReference())));
        assertEquals("loraplex.router.placement.load-factor must be at least 1.0, got 0.5", factor.getMessage());
        IllegalArgumentException slack = assertThrows(IllegalArgumentException.class, () -> RouterSettings.create(ConfigFactory
                .parseString("loraplex.router.placement.load-slack = -1").withFallback(ConfigFactory.defaultReference())));
        assertEquals("loraplex.router.placement.load-slack must not be negative, got -1", slack.getMessage());
        IllegalArgumentException sessions = assertThrows(IllegalArgumentException.class, () -> RouterSettings.create(ConfigFactory
                .parseString("loraplex.router.sessions.max = 0").withFallback(ConfigFactory.defaultReference())));
        assertEquals("loraplex.router.sessions.max must be positive, got 0", sessions.getMessage());
    }
}
