package io.loraplex.persistence;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.loraplex.persistence.adapter.AdapterEvent;
import io.loraplex.persistence.adapter.AdapterState;
import io.loraplex.persistence.finetune.FineTuneEvent;
import io.loraplex.persistence.finetune.FineTuneState;
import io.loraplex.persistence.tenant.TenantEvent;
import io.loraplex.persistence.tenant.TenantState;
import io.loraplex.persistence.tenant.UsageCheckpoint;
import java.util.ArrayList;
import java.util.List;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.serialization.Serialization;
import org.apache.pekko.serialization.SerializationExtension;
import org.apache.pekko.serialization.Serializer;
import org.apache.pekko.serialization.Serializers;
import org.junit.jupiter.api.Test;

/** Every journaled class is written with its schema version in the manifest. */
class SchemaVersionTest {

    static List<Class<?>> journaled() {
        List<Class<?>> all = new ArrayList<>();
        for (Class<?> events : List.of(TenantEvent.class, AdapterEvent.class, FineTuneEvent.class)) {
            all.addAll(List.of(events.getPermittedSubclasses()));
        }
        all.addAll(List.of(TenantState.class, AdapterState.class, FineTuneState.class, UsageCheckpoint.class));
        return all;
    }

    @Test
    void everyEventAndStateClassHasASchemaVersion() {
        Config migrations = ConfigFactory.load().getConfig("pekko.serialization.jackson.migrations");
        for (Class<?> c : journaled()) {
            String key = "\"" + c.getName() + "\"";
            assertTrue(migrations.hasPath(key), c.getName() + " has no schema version in pekko.serialization.jackson.migrations");
        }
    }

    @Test
    void theManifestCarriesTheVersionAndOldManifestsStillRead() throws Exception {
        ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "schema-version");
        try {
            Serialization serialization = SerializationExtension.get(system);
            TenantEvent event = new TenantEvent.AdapterNameTracked("cafe", true);
            Serializer serializer = serialization.findSerializerFor(event);
            String manifest = Serializers.manifestFor(serializer, event);
            assertEquals(TenantEvent.AdapterNameTracked.class.getName() + "#1", manifest);
            byte[] bytes = serialization.serialize(event).get();
            assertEquals(event, serialization.deserialize(bytes, serializer.identifier(), manifest).get());
            // what was journaled before versions were written (no "#") reads as version 1
            assertEquals(event, serialization.deserialize(bytes, serializer.identifier(),
                    TenantEvent.AdapterNameTracked.class.getName()).get());
        } finally {
            system.terminate();
        }
    }
}
