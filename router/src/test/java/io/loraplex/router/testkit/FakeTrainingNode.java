package io.loraplex.router.testkit;

import com.fasterxml.jackson.databind.JsonNode;
import io.loraplex.cluster.ContentHash;
import io.loraplex.cluster.NodeId;
import io.loraplex.cluster.files.FileStoreProtocol;
import io.loraplex.cluster.node.GpuNodeProtocol;
import io.loraplex.cluster.node.GpuNodeProtocol.FileProblem;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.util.ByteString;

/**
 * A GPU node double for the fine-tuning API: ready in its stats (base {@value #BASE_MODEL}); validates
 * training files it reads from the file store (each line a JSON object whose {@code messages} end
 * with an assistant message); trains in three steps to a validation loss of 1.0 against the base's
 * 2.0, except for an adapter named {@code slow}, which starts and then waits for a cancel.
 */
public final class FakeTrainingNode {

    public static final String BASE_MODEL = "test-base";

    public final List<GpuNodeProtocol.TrainAdapter> trains = new CopyOnWriteArrayList<>();
    public final List<GpuNodeProtocol.CancelTraining> cancels = new CopyOnWriteArrayList<>();

    public Behavior<GpuNodeProtocol.Command> behavior() {
        return Behaviors.setup(ctx -> {
            ctx.getSystem().receptionist().tell(Receptionist.register(GpuNodeProtocol.SERVICE_KEY, ctx.getSelf()));
            NodeId id = new NodeId("trainer");
            return Behaviors.receive(GpuNodeProtocol.Command.class)
                    .onMessage(GpuNodeProtocol.GetStats.class, m -> {
                        m.replyTo().tell(new GpuNodeProtocol.NodeStats(id, BASE_MODEL, "base-id", true, false, 0, 0, 64, 100, 100, 0, List.of(),
                                List.of()));
                        return Behaviors.same();
                    })
                    .onMessage(GpuNodeProtocol.ValidateTrainingFile.class, m -> {
                        read(ctx.getSystem(), m.file()).thenAccept(text -> m.replyTo().tell(verdict(m.file().fileId(), text)));
                        return Behaviors.same();
                    })
                    .onMessage(GpuNodeProtocol.TrainAdapter.class, m -> {
                        trains.add(m);
                        ActorRef<GpuNodeProtocol.TrainingUpdate> to = m.replyTo();
                        to.tell(new GpuNodeProtocol.TrainingStarted(m.jobId(), m.attempt(), id, 2, 3));
                        if (!m.adapterName().equals("slow")) {
                            for (int step = 1; step <= 3; step++) {
                                to.tell(new GpuNodeProtocol.TrainingProgress(m.jobId(), m.attempt(), step, 3, step, 2.0 / step,
                                        step == 3 ? 1.0 : null));
                            }
                            byte[] b = m.jobId().getBytes(StandardCharsets.UTF_8);
                            to.tell(new GpuNodeProtocol.TrainingFinished(m.jobId(), m.attempt(), ContentHash.of(b, b), 100, 60, 2.0,
                                    1.0));
                        }
                        return Behaviors.same();
                    })
                    .onMessage(GpuNodeProtocol.CancelTraining.class, m -> {
                        cancels.add(m);
                        return Behaviors.same();
                    })
                    .onAnyMessage(m -> Behaviors.same())
                    .build();
        });
    }

    private static java.util.concurrent.CompletionStage<String> read(org.apache.pekko.actor.typed.ActorSystem<?> system,
            FileStoreProtocol.FileRef file) {
        return AskPattern.<org.apache.pekko.actor.typed.receptionist.Receptionist.Command, Receptionist.Listing>ask(
                        system.receptionist(), r -> Receptionist.find(FileStoreProtocol.SERVICE_KEY, r), Duration.ofSeconds(5),
                        system.scheduler())
                .thenCompose(listing -> AskPattern.<FileStoreProtocol.Command, FileStoreProtocol.FileSource>ask(
                        listing.getServiceInstances(FileStoreProtocol.SERVICE_KEY).iterator().next(),
                        r -> new FileStoreProtocol.ReadFile(file, r), Duration.ofSeconds(5), system.scheduler()))
                .thenCompose(source -> source.source().getSource()
                        .runWith(Sink.fold(ByteString.emptyByteString(), ByteString::concat), system))
                .thenApply(ByteString::utf8String);
    }

    static GpuNodeProtocol.TrainingFileVerdict verdict(String fileId, String text) {
        List<FileProblem> problems = new ArrayList<>();
        int examples = 0;
        String[] lines = text.split("\n", -1);
        for (int i = 0; i < lines.length; i++) {
            if (lines[i].isBlank()) {
                continue;
            }
            try {
                JsonNode messages = TestRouter.JSON.readTree(lines[i]).path("messages");
                if (!messages.isArray() || messages.isEmpty()
                        || !"assistant".equals(messages.get(messages.size() - 1).path("role").asText())) {
                    problems.add(new FileProblem(i + 1, "the last message must be the assistant's"));
                } else {
                    examples++;
                }
            } catch (Exception e) {
                problems.add(new FileProblem(i + 1, "not JSON"));
            }
        }
        return new GpuNodeProtocol.TrainingFileVerdict(fileId, problems.isEmpty(), problems, examples, text.length() / 4);
    }
}
