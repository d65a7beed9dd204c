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
}
