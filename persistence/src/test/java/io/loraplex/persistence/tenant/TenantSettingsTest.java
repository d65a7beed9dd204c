package io.loraplex.persistence.tenant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.loraplex.persistence.Journals;
import java.nio.file.Path;
import java.time.Duration;
import org.apache.pekko.cluster.ddata.typed.javadsl.Replicator;
import org.junit.jupiter.api.Test;

class TenantSettingsTest {

    @Test
    void defaultsComeFromReferenceConf() {
        TenantSettings settings = TenantSettings.create(ConfigFactory.load());
        assertEquals(Duration.ofMinutes(10), settings.inFlightLease());
        assertEquals(Duration.ofSeconds(15), settings.leaseSweepInterval());
        assertEquals(Duration.ofSeconds(1), settings.concurrencyRetryAfter());
        assertEquals(TenantSettings.KeyIndexWrite.LOCAL, settings.keyIndexWrite());
        assertEquals(Replicator.writeLocal(), settings.writeConsistency());
        assertEquals(1000, settings.keyCommandStash());
        assertEquals(Duration.ofSeconds(10), settings.usageFlushInterval());
        assertEquals(100, settings.snapshotEvery());
        assertEquals(2, settings.keepSnapshots());
        assertEquals(10_000, settings.usageCheckpointEvery());
        assertEquals(Duration.ofSeconds(5), settings.usageCheckpointTimeout());
    }

    @Test
    void clustersWriteTheKeyIndexToAMajority() {
        TenantSettings settings = TenantSettings.create(ConfigFactory.parseString("""
                loraplex.tenant.key-index.write-consistency = majority
                loraplex.tenant.key-index.write-timeout = 3s
                loraplex.tenant.in-flight-lease = 2m
                """).withFallback(ConfigFactory.load()));
        Replicator.WriteMajority majority = assertInstanceOf(Replicator.WriteMajority.class, settings.writeConsistency());
        assertEquals(Duration.ofSeconds(3), majority.timeout());
        assertEquals(Duration.ofMinutes(2), settings.inFlightLease());
    }

    @Test
    void badValuesNameTheirKey() {
        IllegalArgumentException consistency = assertThrows(IllegalArgumentException.class, () -> TenantSettings.create(
                ConfigFactory.parseString("loraplex.tenant.key-index.write-consistency = quorum").withFallback(ConfigFactory.load())));
        assertTrue(consistency.getMessage().contains("write-consistency"), consistency.getMessage());
        IllegalArgumentException lease = assertThrows(IllegalArgumentException.class, () -> TenantSettings.create(
                ConfigFactory.parseString("loraplex.tenant.in-flight-lease = 0s").withFallback(ConfigFactory.load())));
        assertTrue(lease.getMessage().contains("in-flight-lease"), lease.getMessage());
        IllegalArgumentException flush = assertThrows(IllegalArgumentException.class, () -> TenantSettings.create(
                ConfigFactory.parseString("loraplex.tenant.usage-flush-interval = 0s").withFallback(ConfigFactory.load())));
        assertTrue(flush.getMessage().contains("usage-flush-interval"), flush.getMessage());
        IllegalArgumentException snapshots = assertThrows(IllegalArgumentException.class, () -> TenantSettings.create(
                ConfigFactory.parseString("loraplex.tenant.snapshot-every = 0").withFallback(ConfigFactory.load())));
        assertTrue(snapshots.getMessage().contains("snapshot-every"), snapshots.getMessage());
        IllegalArgumentException checkpoints = assertThrows(IllegalArgumentException.class, () -> TenantSettings.create(
                ConfigFactory.parseString("loraplex.tenant.usage-checkpoint.every = 0").withFallback(ConfigFactory.load())));
        assertEquals("loraplex.tenant.usage-checkpoint.every must be at least 1 (sequence numbers of the tenant's journal), got 0",
                checkpoints.getMessage());
        IllegalArgumentException checkpointTimeout = assertThrows(IllegalArgumentException.class, () -> TenantSettings.create(
                ConfigFactory.parseString("loraplex.tenant.usage-checkpoint.timeout = 0s").withFallback(ConfigFactory.load())));
        assertEquals("loraplex.tenant.usage-checkpoint.timeout must be a positive duration, got PT0S", checkpointTimeout.getMessage());
    }

    @Test
    void usageReportsReadTheConfiguredReadJournalOrTheJournalsOwnAndAJournalWithoutOneIsRefused() {
        Config embedded = Journals.embedded(Path.of("/tmp/unused")).withFallback(ConfigFactory.load());
        assertEquals("loraplex-read-journal", TenantSettings.create(embedded).requireReadJournal(embedded));
        Config named = ConfigFactory.parseString("loraplex.tenant.read-journal = \"my-query\"").withFallback(ConfigFactory.load());
        assertEquals("my-query", TenantSettings.create(named).requireReadJournal(named));
        Config none = ConfigFactory.parseString("pekko.persistence.journal.plugin = \"pekko.persistence.journal.inmem\"")
                .withFallback(ConfigFactory.load());
        IllegalStateException refused = assertThrows(IllegalStateException.class,
                () -> TenantSettings.create(none).requireReadJournal(none));
        assertEquals("loraplex.tenant.read-journal is empty and the journal pekko.persistence.journal.inmem has no read journal "
                + "of its own: set it to a Persistence Query plugin id that reads events by persistence id", refused.getMessage());
    }
}
