package io.loraplex.persistence.adapter;

import com.typesafe.config.ConfigFactory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.serialization.Serialization;
import org.apache.pekko.serialization.SerializationExtension;
import org.apache.pekko.serialization.Serializers;

/**
 * Writes the CBOR fixtures of {@link AdapterSamples} (run once per schema generation, output
 * committed): {@code NN-<event>.cbor} per event, {@code state.cbor}, and {@code index.txt} naming
 * each file's serializer id and manifest. Run from the repository root:
 * {@code ./mvnw -q -o -pl persistence exec:java -Dexec.classpathScope=test
 * -Dexec.mainClass=io.loraplex.persistence.adapter.AdapterFixtureGenerator}.
 */
public final class AdapterFixtureGenerator {

    static final String DIR = "fixtures/adapter";

    private AdapterFixtureGenerator() {
    }

    public static void main(String[] args) throws IOException {
        Path out = Path.of(args.length > 0 ? args[0] : "persistence/src/test/resources").resolve(DIR);
        Files.createDirectories(out);
        ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "fixtures", ConfigFactory.load());
        try {
            Serialization serialization = SerializationExtension.get(system);
            List<String> index = new ArrayList<>();
            List<Object> all = new ArrayList<>(AdapterSamples.events());
            all.add(AdapterSamples.state());
            for (int i = 0; i < all.size(); i++) {
                Object sample = all.get(i);
                String file = i < all.size() - 1 ? "%02d-%s.cbor".formatted(i, sample.getClass().getSimpleName()) : "state.cbor";
                var serializer = serialization.findSerializerFor(sample);
                Files.write(out.resolve(file), serialization.serialize(sample).get());
                index.add(file + " " + serializer.identifier() + " " + Serializers.manifestFor(serializer, sample));
            }
            Files.write(out.resolve("index.txt"), index);
            System.out.println("wrote " + all.size() + " fixtures to " + out);
        } finally {
            system.terminate();
        }
    }
}
