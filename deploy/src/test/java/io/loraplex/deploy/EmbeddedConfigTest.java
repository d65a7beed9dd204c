package io.loraplex.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.apache.pekko.actor.Address;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** How {@code serve}'s configuration layers: the operator's overrides, then --fast-failure, then embedded.conf. */
class EmbeddedConfigTest {

    @TempDir
    Path data;

    private static final String STABLE_AFTER = "pekko.cluster.split-brain-resolver.stable-after";
    private static final String PAUSE = "pekko.cluster.failure-detector.acceptable-heartbeat-pause";

    @Test
    void withoutFastFailureTheProductionTimingsHold() {
        Config c = EmbeddedServer.config(data, ConfigFactory.empty());
        assertEquals(Duration.ofSeconds(20), c.getDuration(STABLE_AFTER));
        assertEquals(Duration.ofSeconds(5), c.getDuration(PAUSE));
    }

    @Test
    void theDefaultJournalIsTheEmbeddedLogUnderTheDataDirectory() {
        Config c = EmbeddedServer.config(data, ConfigFactory.empty());
        assertEquals("loraplex-journal", c.getString("pekko.persistence.journal.plugin"));
        assertEquals("loraplex-snapshot-store", c.getString("pekko.persistence.snapshot-store.plugin"));
        assertEquals(data.toAbsolutePath().resolve("journal").toString(), c.getString("loraplex-journal.dir"));
        assertEquals(data.toAbsolutePath().resolve("journal").toString(), c.getString("loraplex-read-journal.dir"));
        assertEquals(true, c.getBoolean("loraplex-journal.fsync"));
    }

    @Test
    void fastFailureOverridesEmbeddedConf() {
        Config c = EmbeddedServer.config(data, ConfigFactory.parseMap(Map.of("loraplex.cluster.fast-failure", true)));
        assertEquals(Duration.ofSeconds(5), c.getDuration(STABLE_AFTER));
        assertEquals(Duration.ofSeconds(4), c.getDuration(PAUSE));
        assertEquals(Duration.ofMillis(500), c.getDuration("pekko.cluster.failure-detector.heartbeat-interval"));
    }

    @Test
    void theOperatorsOwnSettingsWinOverFastFailure() {
        Config c = EmbeddedServer.config(data, ConfigFactory.parseMap(Map.of("loraplex.cluster.fast-failure", true, STABLE_AFTER, "7 s")));
        assertEquals(Duration.ofSeconds(7), c.getDuration(STABLE_AFTER));
    }

    @Test
    void aGpuNodeWithoutAnIdIsNamedByHostAndPort() {
        Address self = new Address("pekko", "loraplex", "127.0.0.1", 25521);
        assertEquals("127.0.0.1:25521", EmbeddedServer.nodeId("", self));
        assertEquals("gpu-1", EmbeddedServer.nodeId("gpu-1", self));
    }

    @Test
    void aMisspeltEngineSettingIsRefusedAsTheOperatorWroteIt() {
        Config config = ConfigFactory.parseString("loraplex.engine { max-runing = 8 }");
        IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> EmbeddedServer.engineSettings(config));
        org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().startsWith("unknown setting loraplex.engine.max-runing; "
                + "the engine's settings are max-running, max-tokens-per-step"), e.getMessage());
        assertEquals(8, EmbeddedServer.engineSettings(ConfigFactory.parseString("loraplex.engine { max-running = 8 }")).maxRunning());
    }
}
