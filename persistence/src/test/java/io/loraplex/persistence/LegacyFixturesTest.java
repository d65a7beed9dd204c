package io.loraplex.persistence;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

import com.typesafe.config.ConfigFactory;
import io.loraplex.persistence.adapter.AdapterEvent;
import io.loraplex.persistence.adapter.AdapterState;
import io.loraplex.persistence.tenant.TenantState;
import java.io.IOException;
import java.io.InputStream;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.serialization.Serialization;
import org.apache.pekko.serialization.SerializationExtension;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Events and snapshots journaled by the version before issue "Trust" (fixtures/legacy/, the bytes
 * committed then, manifests without a schema version) still read: a data directory keeps working
 * across the upgrade (its H2 journal is imported with these bytes as they are).
 */
class LegacyFixturesTest {

    static ActorSystem<Void> system;
    static Serialization serialization;

    @BeforeAll
    static void start() {
        system = ActorSystem.create(Behaviors.empty(), "legacy-fixtures", ConfigFactory.load());
        serialization = SerializationExtension.get(system);
    }

    @AfterAll
    static void stop() {
        system.terminate();
    }

    static Object read(String file, String manifest) throws IOException {
        try (InputStream in = LegacyFixturesTest.class.getClassLoader().getResourceAsStream("fixtures/legacy/" + file)) {
            return serialization.deserialize(in.readAllBytes(), 33, manifest).get();
        }
    }

    @Test
    void aDeleteJournaledBeforeCleanUpsWereTrackedReadsWithNothingLeftToCleanUp() throws IOException {
        var deleted = assertInstanceOf(AdapterEvent.AdapterDeleted.class,
                read("adapter-AdapterDeleted.cbor", "io.loraplex.persistence.adapter.AdapterEvent$AdapterDeleted"));
        assertEquals(3, deleted.hashes().size());
        assertEquals(0, deleted.live().size());
    }

    @Test
    void theSnapshotsOfTheVersionBeforeStillRead() throws IOException {
        AdapterState adapter = assertInstanceOf(AdapterState.class,
                read("adapter-state.cbor", "io.loraplex.persistence.adapter.AdapterState"));
        assertFalse(adapter.versions().isEmpty(), adapter.toString());
        TenantState tenant = assertInstanceOf(TenantState.class, read("tenant-state.cbor", "io.loraplex.persistence.tenant.TenantState"));
        assertFalse(tenant.keys().isEmpty(), tenant.toString());
    }
}
