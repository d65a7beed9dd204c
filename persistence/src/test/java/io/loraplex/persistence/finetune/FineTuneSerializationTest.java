package io.loraplex.persistence.finetune;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

import com.typesafe.config.ConfigFactory;
import io.loraplex.cluster.finetune.FineTuneProtocol.FileInfo;
import io.loraplex.cluster.finetune.FineTuneProtocol.TrainingFailureCode;
import io.loraplex.persistence.finetune.FineTuneEvent.FileAdded;
import io.loraplex.persistence.finetune.FineTuneEvent.FileDeleted;
import io.loraplex.persistence.finetune.FineTuneEvent.JobAttemptFailed;
import io.loraplex.persistence.finetune.FineTuneEvent.JobCancelled;
import io.loraplex.persistence.finetune.FineTuneEvent.JobCreated;
import io.loraplex.persistence.finetune.FineTuneEvent.JobDispatched;
import io.loraplex.persistence.finetune.FineTuneEvent.JobFailed;
import io.loraplex.persistence.finetune.FineTuneEvent.JobProgressed;
import io.loraplex.persistence.finetune.FineTuneEvent.JobQueued;
import io.loraplex.persistence.finetune.FineTuneEvent.JobStarted;
import io.loraplex.persistence.finetune.FineTuneEvent.JobSucceeded;
import io.loraplex.persistence.finetune.FineTuneEvent.JobTrained;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.serialization.Serialization;
import org.apache.pekko.serialization.SerializationExtension;
import org.apache.pekko.serialization.Serializers;
import org.apache.pekko.serialization.jackson.JacksonCborSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Every FineTune event, and a state holding files and jobs in every status, round-trip through Jackson CBOR. */
class FineTuneSerializationTest {

    static ActorTestKit kit;
    static Serialization serialization;

    @BeforeAll
    static void start() {
        kit = ActorTestKit.create("fine-tune-serialization", ConfigFactory.load());
        serialization = SerializationExtension.get(kit.system());
    }

    @AfterAll
    static void stop() {
        kit.shutdownTestKit();
    }

    static List<FineTuneEvent> events() {
        FileInfo file = new FileInfo("file-a", "a.jsonl", 10, "fine-tune", 1_700_000_000L, "processed", null, "ab".repeat(32), 3, 40);
        FineTuneState.JobSpec spec = new FineTuneState.JobSpec("base", "file-a", null, "cafe", 3, 1, 1.0, 8, 16.0, true, 42);
        return List.of(new FileAdded(file), new FileAdded(new FileInfo("file-b", "b.jsonl", 5, "fine-tune", 1, "processed", null,
                        "cd".repeat(32), 1, 1)),
                new JobCreated("ftjob-1", spec, 1000), new JobQueued("ftjob-1", 1000),
                new JobDispatched("ftjob-1", 1, "pekko://x/user/node", 1100),
                new JobStarted("ftjob-1", 1, "node-1", 10, 30, 1200),
                new JobProgressed("ftjob-1", 1, 30, 1, 2.5, null, 1300), new JobProgressed("ftjob-1", 10, 30, 1, 1.5, 1.75, 1400),
                new JobAttemptFailed("ftjob-1", 1, "node lost", 1500), new JobDispatched("ftjob-1", 2, "pekko://x/user/node", 1600),
                new JobTrained("ftjob-1", "ef".repeat(32), 100, 1234, 2.0, 1.0, 1700),
                new JobSucceeded("ftjob-1", 3, false, "worse than the base", 1800),
                new JobCreated("ftjob-2", spec, 2000), new JobFailed("ftjob-2", "timeout", "no progress", null, 2100),
                new JobCreated("ftjob-3", spec, 3000), new JobCancelled("ftjob-3", 3100),
                new FileDeleted("file-b", 4000));
    }

    @Test
    void theSamplesHoldEveryKindOfEvent() {
        Set<Class<?>> kinds = Arrays.stream(FineTuneEvent.class.getPermittedSubclasses()).collect(Collectors.toSet());
        assertEquals(kinds, events().stream().map(Object::getClass).collect(Collectors.toSet()));
    }

    @Test
    void everyEventAndTheStateRoundTripAsCbor() {
        FineTuneState state = FineTuneState.EMPTY;
        for (FineTuneEvent e : events()) {
            state = state.apply(e, 100);
        }
        List<Object> all = new ArrayList<>(events());
        all.add(state);
        all.add(FineTuneState.EMPTY);
        for (Object sample : all) {
            var serializer = serialization.findSerializerFor(sample);
            assertInstanceOf(JacksonCborSerializer.class, serializer, sample.getClass().getName());
            byte[] bytes = serialization.serialize(sample).get();
            assertEquals(sample, serialization.deserialize(bytes, serializer.identifier(), Serializers.manifestFor(serializer, sample))
                    .get());
        }
        assertEquals(Set.of("file-a"), state.files().keySet());
        assertEquals("cafe", state.job("ftjob-1").view().fineTunedModel());
        // created and validating, queued, 2 dispatched, started, 2 metrics, attempt failed, trained, 3 on success
        assertEquals(13, state.job("ftjob-1").events().size());
    }

    @Test
    void aJournaledFailureCodeReadsAsItsTypedCodeAndAnOldPathAsTheNodeShown() {
        FineTuneState state = FineTuneState.EMPTY;
        for (FineTuneEvent e : events()) {
            state = state.apply(e, 100);
        }
        assertEquals(TrainingFailureCode.TIMEOUT, state.job("ftjob-2").view().errorCode());
        // a dispatch journaled before issue 16 holds an actor path: shown as it is, and what a retry avoids
        assertEquals("pekko://x/user/node", state.job("ftjob-1").lastNode());
        assertEquals("Sent to GPU node pekko://x/user/node (attempt 1)", state.job("ftjob-1").events().get(3).message());
        for (TrainingFailureCode code : TrainingFailureCode.values()) {
            assertEquals(code, TrainingFailureCode.ofApiName(code.apiName()));
        }
    }

    @Test
    void aJobKeepsItsNewestEventsOnly() {
        FineTuneState state = FineTuneState.EMPTY;
        for (FineTuneEvent e : events()) {
            state = state.apply(e, 10);
        }
        List<String> ids = state.job("ftjob-1").events().stream().map(e -> e.id()).toList();
        assertEquals(10, ids.size());
        assertEquals("ftevent-1-13", ids.get(ids.size() - 1));
        assertEquals("ftevent-1-4", ids.get(0));
    }
}
