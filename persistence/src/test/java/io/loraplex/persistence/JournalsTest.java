package io.loraplex.persistence;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

class JournalsTest {

    @Test
    void theEmbeddedJournalIsALogUnderTheDataDirectorySyncedBeforeEachAcknowledgement() {
        Config embedded = Journals.embedded(Path.of("/var/lib/loraplex")).withFallback(ConfigFactory.load()).resolve();
        assertEquals("loraplex-journal", embedded.getString("pekko.persistence.journal.plugin"));
        assertEquals("loraplex-snapshot-store", embedded.getString("pekko.persistence.snapshot-store.plugin"));
        for (String plugin : List.of("loraplex-journal", "loraplex-snapshot-store", "loraplex-read-journal")) {
            assertEquals("/var/lib/loraplex/journal", embedded.getString(plugin + ".dir"));
            assertTrue(embedded.getBoolean(plugin + ".fsync"));
        }
        assertEquals("loraplex-read-journal", Journals.queryPluginId(embedded));
    }

    @Test
    void h2IsOneFileUnderTheDataDirectoryWrittenAtEveryCommit() {
        Config h2 = Journals.h2(Path.of("/var/lib/loraplex"));
        assertEquals("jdbc-journal", h2.getString("pekko.persistence.journal.plugin"));
        assertEquals("jdbc-snapshot-store", h2.getString("pekko.persistence.snapshot-store.plugin"));
        String url = h2.getString("pekko-persistence-jdbc.shared-databases.h2.db.url");
        assertTrue(url.startsWith("jdbc:h2:file:/var/lib/loraplex/journal;"), url);
        assertTrue(url.contains(";WRITE_DELAY=0;"), url);
        assertEquals("jdbc-read-journal", Journals.queryPluginId(h2.withFallback(ConfigFactory.load())));
    }

    @Test
    void cassandraNamesItsContactPointAndKeyspace() {
        Config cassandra = Journals.cassandra("10.0.0.7", 9142, "loraplex");
        assertEquals(List.of("10.0.0.7:9142"), cassandra.getStringList("datastax-java-driver.basic.contact-points"));
        assertEquals("loraplex", cassandra.getString("pekko.persistence.cassandra.journal.keyspace"));
        assertEquals("loraplex", cassandra.getString("pekko.persistence.cassandra.snapshot.keyspace"));
        assertEquals("pekko.persistence.cassandra.query", Journals.queryPluginId(cassandra));
    }

    @Test
    void theDefaultInMemoryJournalCannotListTenants() {
        assertNull(Journals.queryPluginId(ConfigFactory.load()));
    }

    @Test
    void badCassandraSettingsAreRefusedByName() {
        IllegalArgumentException keyspace = assertThrows(IllegalArgumentException.class,
                () -> Journals.cassandra("localhost", 9042, "lora-plex; DROP"));
        assertTrue(keyspace.getMessage().contains("keyspace") && keyspace.getMessage().contains("lora-plex; DROP"),
                keyspace.getMessage());
        IllegalArgumentException port = assertThrows(IllegalArgumentException.class,
                () -> Journals.cassandra("localhost", 0, "loraplex"));
        assertTrue(port.getMessage().contains("port"), port.getMessage());
    }
}
