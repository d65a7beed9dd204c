package io.loraplex.persistence.adapter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraplex.cluster.adapter.AdapterProtocol.VersionState;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.serialization.Serialization;
import org.apache.pekko.serialization.SerializationExtension;
import org.apache.pekko.serialization.Serializer;
import org.apache.pekko.serialization.Serializers;
import org.apache.pekko.serialization.jackson.JacksonCborSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Adapter events and state through the real serializer (Jackson CBOR): every kind round-trips, and
 * the committed fixtures of today's schema still read.
 */
class AdapterSerializationTest {

    static ActorTestKit testKit;
    static Serialization serialization;

    @BeforeAll
    static void start() {
        testKit = ActorTestKit.create("adapter-serialization");
        serialization = SerializationExtension.get(testKit.system());
    }

    @AfterAll
    static void stop() {
        testKit.shutdownTestKit();
    }

    @Test
    void theSamplesHoldEveryKindOfEventAndAFullState() {
        Set<Class<?>> kinds = Arrays.stream(AdapterEvent.class.getPermittedSubclasses()).collect(Collectors.toSet());
        assertEquals(kinds, AdapterSamples.events().stream().map(Object::getClass).collect(Collectors.toSet()));
        AdapterState state = AdapterSamples.state();
        assertEquals(Set.of(VersionState.PROMOTED, VersionState.RETIRED, VersionState.REJECTED, VersionState.FAILED),
                state.versions().stream().map(AdapterState.Version::state).collect(Collectors.toSet()));
        assertEquals(1, state.promoted());
    }

    @Test
    void everyEventAndTheStateRoundTripAsCbor() {
        List<Object> all = new ArrayList<>(AdapterSamples.events());
        all.add(AdapterSamples.state());
        all.add(AdapterSamples.state().apply(AdapterSamples.events().getLast()));
        all.add(AdapterState.EMPTY);
        for (Object sample : all) {
            Serializer serializer = serialization.findSerializerFor(sample);
            assertTrue(serializer instanceof JacksonCborSerializer, sample + " is serialized by " + serializer);
            byte[] bytes = serialization.serialize(sample).get();
            Object back = serialization.deserialize(bytes, serializer.identifier(), Serializers.manifestFor(serializer, sample)).get();
            assertEquals(sample, back);
        }
    }

    @Test
    void aVersionsBaseModelRoundTripsAndItsStateKeepsIt() {
        AdapterEvent.VersionUploaded uploaded = new AdapterEvent.VersionUploaded(1,
                new io.loraplex.cluster.ContentHash("ab".repeat(32)), 10, "upload", 5, "base-b");
        Serializer serializer = serialization.findSerializerFor(uploaded);
        byte[] bytes = serialization.serialize(uploaded).get();
        assertEquals(uploaded, serialization.deserialize(bytes, serializer.identifier(), Serializers.manifestFor(serializer, uploaded))
                .get());
        AdapterState state = AdapterState.EMPTY.apply(uploaded);
        byte[] snapshot = serialization.serialize(state).get();
        AdapterState back = (AdapterState) serialization.deserialize(snapshot, serializer.identifier(),
                Serializers.manifestFor(serializer, state)).get();
        assertEquals("base-b", back.versions().getFirst().baseModel());
        // the committed fixtures were journaled before versions named their base: they read as the fleet's only base
        assertEquals(null, AdapterSamples.state().versions().getFirst().baseModel());
    }

    @Test
    void theCommittedFixturesOfTodaysSchemaStillRead() throws IOException {
        List<String> index = lines(AdapterFixtureGenerator.DIR + "/index.txt");
        List<AdapterEvent> events = AdapterSamples.events();
        assertEquals(events.size() + 1, index.size());
        for (int i = 0; i < index.size(); i++) {
            String[] entry = index.get(i).split(" ");
            Object read = serialization.deserialize(bytes(AdapterFixtureGenerator.DIR + "/" + entry[0]),
                    Integer.parseInt(entry[1]), entry[2]).get();
            Object expected = i < events.size() ? events.get(i) : AdapterSamples.state();
            assertEquals(expected, read, entry[0]);
        }
    }

    private static byte[] bytes(String resource) throws IOException {
        try (InputStream in = AdapterSerializationTest.class.getClassLoader().getResourceAsStream(resource)) {
            if (in == null) {
                throw new IOException("missing test resource " + resource);
            }
            return in.readAllBytes();
        }
    }

    private static List<String> lines(String resource) throws IOException {
        return new String(bytes(resource), StandardCharsets.UTF_8).lines().filter(l -> !l.isBlank()).toList();
    }
}
