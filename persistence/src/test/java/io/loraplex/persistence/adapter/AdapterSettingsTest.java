package io.loraplex.persistence.adapter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.loraplex.persistence.Journals;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** {@code loraplex.adapter}: the defaults read, bad values are refused by name, the read journal follows the journal. */
class AdapterSettingsTest {

    @Test
    void theDefaultsRead() {
        AdapterSettings settings = AdapterSettings.create(ConfigFactory.load());
        assertEquals(Duration.ofSeconds(5), settings.tenantTimeout());
        assertEquals(Duration.ofSeconds(60), settings.validationTimeout());
        assertEquals(100, settings.snapshotEvery());
        assertEquals("", settings.readJournal());
    }

    @Test
    void badValuesAreRefusedNamingTheKey() {
        IllegalArgumentException zero = assertThrows(IllegalArgumentException.class,
                () -> AdapterSettings.create(with("loraplex.adapter.tenant-timeout = 0s")));
        assertTrue(zero.getMessage().contains("loraplex.adapter.tenant-timeout"), zero.getMessage());
        IllegalArgumentException stash = assertThrows(IllegalArgumentException.class,
                () -> AdapterSettings.create(with("loraplex.adapter.command-stash = 0")));
        assertTrue(stash.getMessage().contains("loraplex.adapter.command-stash must be at least 1, got 0"), stash.getMessage());
    }

    @Test
    void theReadJournalIsTheConfiguredOneOrTheJournalsOwn() {
        Config h2 = Journals.h2(Path.of("/tmp/unused")).withFallback(ConfigFactory.load());
        assertEquals("jdbc-read-journal", AdapterSettings.create(h2).readJournalPluginId(h2));
        Config named = with("loraplex.adapter.read-journal = \"my-query\"");
        assertEquals("my-query", AdapterSettings.create(named).readJournalPluginId(named));
        Config inMemory = ConfigFactory.load();
        IllegalStateException none = assertThrows(IllegalStateException.class,
                () -> AdapterSettings.create(inMemory).readJournalPluginId(inMemory));
        assertTrue(none.getMessage().contains("loraplex.adapter.read-journal"), none.getMessage());
    }

    private static Config with(String line) {
        return ConfigFactory.parseString(line).withFallback(ConfigFactory.load());
    }
}
