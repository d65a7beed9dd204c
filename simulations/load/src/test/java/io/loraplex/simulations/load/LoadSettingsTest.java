package io.loraplex.simulations.load;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class LoadSettingsTest {

    static Config with(Map<String, String> overrides) {
        return ConfigFactory.parseMap(overrides).withFallback(ConfigFactory.parseResources("loraplex-load.conf")).resolve();
    }

    @Test
    void theDefaultsAreTheCiScenarioOfFortySeconds() {
        LoadSettings s = LoadSettings.create(with(Map.of("loraplex.adminKey", "k")));
        assertEquals("http://127.0.0.1:8080", s.url().toString());
        assertEquals(4, s.tenants());
        assertEquals(3, s.adaptersPerTenant());
        assertEquals(Optional.empty(), s.baseModelDir());
        assertEquals(Duration.ofSeconds(35), s.arrival().total());
        assertEquals(3000, s.ttftP99Ms().chat());
    }

    @Test
    void systemPropertyStyleKeysOverrideTheFileAndATrailingSlashIsDropped() {
        LoadSettings s = LoadSettings.create(with(Map.of("loraplex.adminKey", "k", "loraplex.url", "http://127.0.0.1:9/",
                "loraplex.load.tenants", "20", "loraplex.load.session.turns", "5", "loraplex.load.base-model-dir", "/models/x")));
        assertEquals("http://127.0.0.1:9", s.url().toString());
        assertEquals(20, s.tenants());
        assertEquals(5, s.session().turns());
        assertEquals("/models/x", s.baseModelDir().orElseThrow().toString());
    }

    @Test
    void aMissingAdminKeyIsRefusedSayingWhereToFindOne() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> LoadSettings.create(with(Map.of("loraplex.adminKey", " "))));
        assertEquals("loraplex.adminKey is empty: pass -Dloraplex.adminKey=... or set LORAPLEX_ADMIN_KEY (the key `loraplex serve` "
                + "printed at its first start, or deploy/local-cluster.sh's DIR/admin-key)", e.getMessage());
    }

    @Test
    void badValuesAreRefusedNamingTheKeyAndTheValue() {
        assertEquals("loraplex.url must be an http:// or https:// URL with a host, got 'ftp://x'", assertThrows(
                IllegalArgumentException.class, () -> LoadSettings.create(with(Map.of("loraplex.adminKey", "k", "loraplex.url",
                        "ftp://x")))).getMessage());
        assertEquals("loraplex.load.tenants must be at least 1, got 0", assertThrows(IllegalArgumentException.class,
                () -> LoadSettings.create(with(Map.of("loraplex.adminKey", "k", "loraplex.load.tenants", "0")))).getMessage());
        assertEquals("loraplex.load.session.stream-share is a share from 0 to 1, got 1.5", assertThrows(IllegalArgumentException.class,
                () -> LoadSettings.create(with(Map.of("loraplex.adminKey", "k", "loraplex.load.session.stream-share", "1.5"))))
                .getMessage());
        assertEquals("loraplex.load.arrival.rate must be above 0 (sessions per second), got 0.0", assertThrows(
                IllegalArgumentException.class, () -> LoadSettings.create(with(Map.of("loraplex.adminKey", "k",
                        "loraplex.load.arrival.rate", "0")))).getMessage());
        assertEquals("loraplex.load.session.think-max (PT0.1S) must not be below think-min (PT0.5S)", assertThrows(
                IllegalArgumentException.class, () -> LoadSettings.create(with(Map.of("loraplex.adminKey", "k",
                        "loraplex.load.session.think-max", "100ms")))).getMessage());
    }
}
