package io.loraplex.persistence.tenant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.cbor.CBORFactory;
import com.typesafe.config.ConfigFactory;
import io.loraplex.persistence.tenant.TenantEvent.UsageRecorded;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
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
 * Events and state through the real serializer (Jackson CBOR): every kind round-trips, the
 * committed fixtures of today's schema still read, and a field renamed by a migration reads from
 * the old bytes.
 */
class TenantSerializationTest {

    static ActorTestKit testKit;
    static Serialization serialization;

    @BeforeAll
    static void start() {
        testKit = ActorTestKit.create("tenant-serialization", ConfigFactory.parseString("""
                pekko.serialization.jackson.migrations {
                  "io.loraplex.persistence.tenant.TenantEvent$UsageRecorded" = "io.loraplex.persistence.tenant.RenameTokensMigration"
                  "io.loraplex.persistence.tenant.UsageRecordedV2" = "io.loraplex.persistence.tenant.RenameTokensMigration"
                }
                """).withFallback(ConfigFactory.load()));
        serialization = SerializationExtension.get(testKit.system());
    }

    @AfterAll
    static void stop() {
        testKit.shutdownTestKit();
    }

    @Test
    void theSamplesHoldEveryKindOfEvent() {
        Set<Class<?>> kinds = Arrays.stream(TenantEvent.class.getPermittedSubclasses()).collect(Collectors.toSet());
        assertEquals(kinds, TenantSamples.events().stream().map(Object::getClass).collect(Collectors.toSet()));
    }

    @Test
    void everyEventAndTheStateRoundTripAsCbor() {
        List<Object> all = new ArrayList<>(TenantSamples.events().stream().filter(e -> !(e instanceof UsageRecorded)).toList());
        all.add(TenantSamples.state());
        all.add(TenantState.EMPTY);
        for (Object sample : all) {
            Serializer serializer = serialization.findSerializerFor(sample);
            assertTrue(serializer instanceof JacksonCborSerializer, sample + " is serialized by " + serializer);
            byte[] bytes = serialization.serialize(sample).get();
            Object back = serialization.deserialize(bytes, serializer.identifier(),
                    Serializers.manifestFor(serializer, sample)).get();
            assertEquals(sample, back);
        }
    }

    @Test
    void theCommittedFixturesOfTodaysSchemaStillRead() throws IOException {
        List<String> index = lines(TenantFixtureGenerator.DIR + "/index.txt");
        List<TenantEvent> events = TenantSamples.events();
        assertEquals(events.size() + 1, index.size());
        for (int i = 0; i < index.size(); i++) {
            String[] entry = index.get(i).split(" ");
            Object read = serialization.deserialize(bytes(TenantFixtureGenerator.DIR + "/" + entry[0]),
                    Integer.parseInt(entry[1]), entry[2]).get();
            Object expected = i < events.size() ? events.get(i) : TenantSamples.state();
            if (expected instanceof UsageRecorded u) {
                // this system migrates usage events to their (test-only) version 2
                expected = new UsageRecordedV2(u.epochHour(), u.model(), u.requests(), u.tokens());
            }
            assertEquals(expected, read, entry[0]);
        }
    }

    @Test
    void aRenamedFieldReadsFromTheOldFixture() throws IOException {
        Object read = serialization.deserialize(bytes(TenantFixtureGenerator.DIR + "/11-UsageRecorded.cbor"),
                serialization.findSerializerFor(TenantState.EMPTY).identifier(), UsageRecorded.class.getName()).get();
        assertEquals(new UsageRecordedV2(490_896L, "cafe", 3, 420), read);

        // the new version writes its version into the manifest, and reads back
        UsageRecordedV2 next = new UsageRecordedV2(1, "latte", 2, 3);
        Serializer serializer = serialization.findSerializerFor(next);
        String manifest = Serializers.manifestFor(serializer, next);
        assertEquals(UsageRecordedV2.class.getName() + "#2", manifest);
        assertEquals(next, serialization.deserialize(serialization.serialize(next).get(), serializer.identifier(), manifest).get());
    }

    @Test
    void aSnapshotOfVersionOneGivesUpItsUsageHistoryForItsOldestHour() throws IOException {
        // state.cbor was written when the state held the usage history (490896: cafe 3/420, base 1/17)
        Serializer serializer = serialization.findSerializerFor(TenantState.EMPTY);
        TenantState read = (TenantState) serialization.deserialize(bytes(TenantFixtureGenerator.DIR + "/state.cbor"),
                serializer.identifier(), TenantState.class.getName() + "#1").get();
        assertEquals(490_896L, read.usageFrom());
        assertEquals(TenantSamples.state(), read);
        TenantState legacy = (TenantState) serialization.deserialize(bytes("fixtures/legacy/tenant-state.cbor"),
                serializer.identifier(), TenantState.class.getName()).get();
        assertEquals(490_896L, legacy.usageFrom());

        // version 2 holds no usage: nothing that grows with it
        assertEquals(TenantState.class.getName() + "#2", Serializers.manifestFor(serializer, read));
        JsonNode written = new ObjectMapper(new CBORFactory()).readTree(serialization.serialize(read).get());
        assertFalse(written.has("usage"), written.toString());
        assertEquals(490_896L, written.get("usageFrom").asLong());
        assertEquals(Long.MAX_VALUE, TenantState.EMPTY.usageFrom());
    }

    private static byte[] bytes(String resource) throws IOException {
        try (InputStream in = TenantSerializationTest.class.getClassLoader().getResourceAsStream(resource)) {
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
