package io.loraplex.persistence.finetune;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.loraplex.cluster.ContentHash;
import io.loraplex.cluster.NodeId;
import io.loraplex.cluster.TenantId;
import io.loraplex.cluster.adapter.AdapterProtocol;
import io.loraplex.cluster.finetune.FineTuneProtocol;
import io.loraplex.cluster.finetune.FineTuneProtocol.Error;
import io.loraplex.cluster.finetune.FineTuneProtocol.FileInfo;
import io.loraplex.cluster.finetune.FineTuneProtocol.JobEvent;
import io.loraplex.cluster.finetune.FineTuneProtocol.JobReply;
import io.loraplex.cluster.finetune.FineTuneProtocol.JobRequest;
import io.loraplex.cluster.finetune.FineTuneProtocol.JobStatus;
import io.loraplex.cluster.finetune.FineTuneProtocol.JobView;
import io.loraplex.cluster.finetune.FineTuneProtocol.TrainingFailureCode;
import io.loraplex.cluster.node.GpuNodeProtocol;
import io.loraplex.cluster.node.GpuNodeProtocol.TrainAdapter;
import io.loraplex.cluster.placement.PlacementProtocol;
import io.loraplex.persistence.FakePlacement;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.sharding.typed.javadsl.Entity;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;
import org.apache.pekko.persistence.testkit.PersistenceTestKitPlugin;
import org.apache.pekko.persistence.testkit.PersistenceTestKitSnapshotPlugin;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The FineTune entity on a one-node cluster (router role, every message serialized, events and
 * snapshots through CBOR in the in-memory journal), with stand-ins for GPU nodes (registered with
 * the receptionist) and for the Adapter entity (in sharding). Every test has its own tenant.
 */
class FineTuneEntityTest {

    static ActorTestKit kit;
    static FineTuneSettings settings;
    /** Every message the Adapter entity stand-in received. */
    static TestProbe<AdapterProtocol.Command> adapterCalls;
    /** What the Adapter stand-in answers a RegisterVersion with: null for a registered version 4. */
    static volatile AdapterProtocol.Reply registerAnswer;
    /** The Adapter stand-in leaves RegisterVersion unanswered (an entity that is down). */
    static volatile boolean silent;
    static final AtomicInteger ids = new AtomicInteger();
    /** The router's placement stand-in: nodes serve {@link FakePlacement#DEFAULT_BASE} unless a test says otherwise. */
    static FakePlacement placement;

    TenantId tenant;
    ActorRef<FineTuneProtocol.Command> entity;
    TestProbe<GpuNodeProtocol.Command> node1;
    TestProbe<GpuNodeProtocol.Command> node2;
    ActorRef<GpuNodeProtocol.Command> nodeRef1;
    ActorRef<GpuNodeProtocol.Command> nodeRef2;

    @BeforeAll
    static void start() {
        Config config = ConfigFactory.parseString("""
                pekko.loglevel = WARNING
                pekko.actor.provider = cluster
                pekko.actor.serialize-messages = on
                pekko.remote.artery.canonical.hostname = "127.0.0.1"
                pekko.remote.artery.canonical.port = 0
                pekko.cluster.roles = ["router"]
                pekko.cluster.jmx.multi-mbeans-in-same-jvm = on
                pekko.actor.testkit.typed.single-expect-default = 10s
                loraplex.fine-tune {
                  max-attempts = 2
                  progress-timeout = 1s
                  dispatch-retry = 100ms
                  # a job whose base no node reports waits this long (its nodes may be restarting), then fails
                  queue-timeout = 3s
                  adapter-timeout = 3s
                  persist-progress-every = 5
                  snapshot-every = 7
                }
                """).withFallback(PersistenceTestKitPlugin.getInstance().config())
                .withFallback(PersistenceTestKitSnapshotPlugin.getInstance().config()).withFallback(ConfigFactory.load());
        kit = ActorTestKit.create("fine-tune-entity", config);
        Cluster cluster = Cluster.get(kit.system());
        cluster.manager().tell(Join.create(cluster.selfMember().address()));
        kit.createTestProbe().awaitAssert(Duration.ofSeconds(20), () -> {
            assertEquals(MemberStatus.up(), cluster.selfMember().status());
            return null;
        });
        settings = FineTuneSettings.create(kit.system().settings().config());
        adapterCalls = kit.createTestProbe();
        ClusterSharding.get(kit.system()).init(Entity.of(AdapterProtocol.TYPE_KEY, ctx -> adapterStandIn()));
        FineTuneSharding.init(kit.system(), settings, Clock.systemUTC());
        placement = new FakePlacement(kit.system(), "base-sha256-test");
        TestProbe<Receptionist.Registered> registered = kit.createTestProbe();
        kit.system().receptionist().tell(Receptionist.register(PlacementProtocol.SERVICE_KEY, kit.spawn(placement.behavior()),
                registered.ref()));
        registered.receiveMessage();
    }

    @AfterAll
    static void stop() {
        kit.shutdownTestKit();
    }

    /** Answers RegisterVersion with version 4 of the hash (or {@link #registerAnswer}) and Promote with ok. */
    static Behavior<AdapterProtocol.Command> adapterStandIn() {
        return Behaviors.receiveMessage(command -> {
            boolean answer = !silent; // read before the test hears of the command and changes it
            adapterCalls.ref().tell(command);
            switch (command) {
                case AdapterProtocol.RegisterVersion r -> {
                    if (answer) {
                        r.replyTo().tell(registerAnswer != null ? registerAnswer
                                : AdapterProtocol.Reply.ok(view(r.tenant(), r.name(), r.hash())));
                    }
                }
                case AdapterProtocol.Promote p -> p.replyTo().tell(AdapterProtocol.Reply.ok(null));
                default -> {
                }
            }
            return Behaviors.same();
        });
    }

    static AdapterProtocol.AdapterView view(TenantId tenant, String name, ContentHash hash) {
        return new AdapterProtocol.AdapterView(tenant, name, true, null, null, 0, List.of(new AdapterProtocol.VersionView(4, hash,
                100, AdapterProtocol.VersionState.READY, null, "base", 8, "training", 0, List.of())));
    }

    @BeforeEach
    void setUp() {
        registerAnswer = null;
        silent = false;
        tenant = new TenantId("t" + ids.incrementAndGet());
        entity = kit.spawn(FineTuneEntity.create(tenant, settings, Clock.systemUTC()));
        node1 = kit.createTestProbe();
        node2 = kit.createTestProbe();
        nodeRef1 = node(node1, "a");
        nodeRef2 = null;
    }

    @AfterEach
    void tearDown() {
        kit.stop(entity);
        kit.stop(nodeRef1);
        if (nodeRef2 != null) {
            kit.stop(nodeRef2);
        }
        adapterCalls.expectNoMessage(Duration.ofMillis(50));
    }

    /** A GPU node stand-in forwarding to {@code probe}, registered with the receptionist. */
    ActorRef<GpuNodeProtocol.Command> node(TestProbe<GpuNodeProtocol.Command> probe, String name) {
        ActorRef<GpuNodeProtocol.Command> ref = kit.spawn(Behaviors.receiveMessage(m -> {
            probe.ref().tell(m);
            return Behaviors.same();
        }), "node-" + name + "-" + tenant.value());
        TestProbe<Receptionist.Registered> registered = kit.createTestProbe();
        kit.system().receptionist().tell(Receptionist.register(GpuNodeProtocol.SERVICE_KEY, ref, registered.ref()));
        registered.receiveMessage();
        return ref;
    }

    static FileInfo file(String id) {
        return new FileInfo(id, id + ".jsonl", 120, FineTuneProtocol.PURPOSE_FINE_TUNE, 1_700_000_000L, "processed", null,
                "ab".repeat(32), 10, 400);
    }

    FineTuneProtocol.FileReply addFile(String id) {
        TestProbe<FineTuneProtocol.FileReply> reply = kit.createTestProbe();
        entity.tell(new FineTuneProtocol.AddFile(file(id), reply.ref()));
        return reply.receiveMessage();
    }

    static JobRequest request(String suffix, Boolean promote) {
        return new JobRequest("file-train", null, "loraplex-tiny", suffix, 2, 1, 2.0, 4, 8.0, promote, 7L);
    }

    JobReply send(java.util.function.Function<ActorRef<JobReply>, FineTuneProtocol.Command> command) {
        TestProbe<JobReply> reply = kit.createTestProbe();
        entity.tell(command.apply(reply.ref()));
        return reply.receiveMessage();
    }

    JobView createJob(JobRequest request) {
        addFile("file-train");
        JobReply reply = send(r -> new FineTuneProtocol.CreateJob(request, r));
        assertTrue(reply.ok(), reply.message());
        return reply.job();
    }

    JobView job(String id) {
        return send(r -> new FineTuneProtocol.GetJob(id, r)).job();
    }

    List<JobEvent> events(String jobId) {
        TestProbe<FineTuneProtocol.JobEvents> reply = kit.createTestProbe();
        entity.tell(new FineTuneProtocol.ListJobEvents(jobId, null, 1000, reply.ref()));
        return reply.receiveMessage().events();
    }

    void awaitStatus(String jobId, JobStatus status) {
        kit.createTestProbe().awaitAssert(Duration.ofSeconds(10), () -> {
            assertEquals(status, job(jobId).status());
            return null;
        });
    }

    static ContentHash hash(String text) {
        byte[] b = text.getBytes(StandardCharsets.UTF_8);
        return ContentHash.of(b, b);
    }

    /** Runs a dispatched attempt to its end on the node: started, {@code steps} steps, finished with the two losses. */
    static void train(TrainAdapter t, NodeId node, int steps, double baseLoss, double trainedLoss) {
        t.replyTo().tell(new GpuNodeProtocol.TrainingStarted(t.jobId(), t.attempt(), node, 10, steps));
        for (int step = 1; step <= steps; step++) {
            t.replyTo().tell(new GpuNodeProtocol.TrainingProgress(t.jobId(), t.attempt(), step, steps, (step - 1) / 5 + 1,
                    3.0 / step, step % 5 == 0 ? 2.0 / step : null));
        }
        t.replyTo().tell(new GpuNodeProtocol.TrainingFinished(t.jobId(), t.attempt(), hash(t.jobId()), 100, 1234, baseLoss,
                trainedLoss));
    }

    // ---- files

    @Test
    void filesAreAddedListedFoundAndDeleted() {
        assertTrue(addFile("file-a").ok());
        assertTrue(addFile("file-b").ok());
        TestProbe<FineTuneProtocol.FileList> list = kit.createTestProbe();
        entity.tell(new FineTuneProtocol.ListFiles(list.ref()));
        assertEquals(List.of("file-a", "file-b"), list.receiveMessage().files().stream().map(FileInfo::id).toList());
        TestProbe<FineTuneProtocol.FileReply> reply = kit.createTestProbe();
        entity.tell(new FineTuneProtocol.GetFile("file-a", reply.ref()));
        assertEquals(file("file-a"), reply.receiveMessage().file());
        entity.tell(new FineTuneProtocol.DeleteFile("file-a", reply.ref()));
        assertTrue(reply.receiveMessage().ok());
        entity.tell(new FineTuneProtocol.GetFile("file-a", reply.ref()));
        FineTuneProtocol.FileReply missing = reply.receiveMessage();
        assertEquals(Error.NOT_FOUND, missing.error());
        assertEquals("No such File object: file-a", missing.message());
        entity.tell(new FineTuneProtocol.DeleteFile("file-a", reply.ref()));
        assertEquals(Error.NOT_FOUND, reply.receiveMessage().error());
    }

    @Test
    void aFileUsedByAnActiveJobIsNotDeleted() {
        createJob(request("cafe", null));
        node1.expectMessageClass(TrainAdapter.class);
        TestProbe<FineTuneProtocol.FileReply> reply = kit.createTestProbe();
        entity.tell(new FineTuneProtocol.DeleteFile("file-train", reply.ref()));
        FineTuneProtocol.FileReply refused = reply.receiveMessage();
        assertEquals(Error.CONFLICT, refused.error());
        assertTrue(refused.message().contains("has not finished"), refused.message());
    }

    // ---- creating jobs

    @Test
    void badJobsAreRefusedNamingTheField() {
        addFile("file-train");
        record Case(JobRequest request, String param, String message) {
        }
        for (Case c : List.of(
                new Case(new JobRequest("file-nope", null, "m", "cafe", null, null, null, null, null, null, null), "training_file",
                        "file-nope (no such file)"),
                new Case(new JobRequest(null, null, "m", "cafe", null, null, null, null, null, null, null), "training_file",
                        "'training_file' is required"),
                new Case(new JobRequest("file-train", "file-nope", "m", "cafe", null, null, null, null, null, null, null),
                        "validation_file", "no such file"),
                new Case(new JobRequest("file-train", null, "", "cafe", null, null, null, null, null, null, null), "model",
                        "'model' is required"),
                new Case(new JobRequest("file-train", null, "m", "no spaces", null, null, null, null, null, null, null), "suffix",
                        "got: no spaces"),
                new Case(new JobRequest("file-train", null, "m", "cafe", 0, null, null, null, null, null, null),
                        "hyperparameters.n_epochs", "must be 1 to 1000, got 0"),
                new Case(new JobRequest("file-train", null, "m", "cafe", null, null, -1.0, null, null, null, null),
                        "hyperparameters.learning_rate_multiplier", "above 0"),
                new Case(new JobRequest("file-train", null, "m", "cafe", null, null, null, 0, null, null, null),
                        "hyperparameters.rank", "must be 1 to 256"))) {
            JobReply reply = send(r -> new FineTuneProtocol.CreateJob(c.request(), r));
            assertEquals(Error.INVALID, reply.error(), c.toString());
            assertEquals(c.param(), reply.param());
            assertTrue(reply.message().contains(c.message()), reply.message());
        }
        TestProbe<FineTuneProtocol.JobList> list = kit.createTestProbe();
        entity.tell(new FineTuneProtocol.ListJobs(null, 10, list.ref()));
        assertTrue(list.receiveMessage().jobs().isEmpty());
        node1.expectNoMessage(Duration.ofMillis(100));
    }

    // ---- a job from queued to succeeded

    @Test
    void aJobTrainsRegistersAndPromotes() {
        JobView created = createJob(request("cafe", null));
        assertTrue(created.id().startsWith("ftjob-"));
        assertEquals(JobStatus.QUEUED, created.status());
        assertEquals(2.0, created.learningRateMultiplier());
        TrainAdapter t = node1.expectMessageClass(TrainAdapter.class);
        assertEquals(1, t.attempt());
        assertEquals(tenant, t.tenant());
        assertEquals("file-train", t.trainingFile().fileId());
        assertEquals("ab".repeat(32), t.trainingFile().sha256());
        assertNull(t.validationFile());
        assertEquals("cafe", t.adapterName());
        assertEquals(new GpuNodeProtocol.TrainingHyperparameters(2, 1, 4e-4, 4, 8.0, 7), t.hyperparameters());

        t.replyTo().tell(new GpuNodeProtocol.TrainingStarted(t.jobId(), 1, new NodeId("n1"), 10, 12));
        awaitStatus(t.jobId(), JobStatus.RUNNING);
        train(t, new NodeId("n1"), 12, 2.0, 0.5);

        AdapterProtocol.RegisterVersion register = adapterCalls.expectMessageClass(AdapterProtocol.RegisterVersion.class);
        assertEquals("training", register.source());
        assertEquals("cafe", register.name());
        assertEquals(hash(t.jobId()), register.hash());
        assertEquals(100, register.bytes());
        assertEquals(4, adapterCalls.expectMessageClass(AdapterProtocol.Promote.class).version());
        awaitStatus(t.jobId(), JobStatus.SUCCEEDED);

        JobView done = job(t.jobId());
        assertEquals("cafe", done.fineTunedModel());
        assertEquals(1234L, done.trainedTokens());
        assertEquals(4, done.adapterVersion());
        assertTrue(done.promoted());
        assertTrue(done.finishedAtSeconds() != null);
        List<JobEvent> events = events(t.jobId());
        assertEquals("The job has successfully completed", events.get(0).message(), "newest first");
        // progress journaled in moderation: step 1, every 5th step (with validation loss) and the last
        List<Integer> steps = events.stream().filter(e -> e.data() != null).map(e -> e.data().step()).toList();
        assertEquals(List.of(12, 10, 5, 1), steps);
        assertEquals("metrics", events.stream().filter(e -> e.data() != null).findFirst().orElseThrow().type());
        // a duplicate straggler from the node changes nothing
        t.replyTo().tell(new GpuNodeProtocol.TrainingFinished(t.jobId(), 1, hash("x"), 1, 1, 1, 1));
        adapterCalls.expectNoMessage(Duration.ofMillis(200));
    }

    @Test
    void aResultWorseThanTheBaseIsRegisteredButNotPromoted() {
        JobView created = createJob(request("cafe", null));
        TrainAdapter t = node1.expectMessageClass(TrainAdapter.class);
        train(t, new NodeId("n1"), 2, 1.0, 1.5);
        adapterCalls.expectMessageClass(AdapterProtocol.RegisterVersion.class);
        awaitStatus(created.id(), JobStatus.SUCCEEDED);
        JobView done = job(created.id());
        assertFalse(done.promoted());
        assertTrue(done.evaluationNote().contains("validation loss 1.5000 is worse than the base model's 1.0000"),
                done.evaluationNote());
        assertEquals(1.0, done.baseValidationLoss());
        assertEquals(1.5, done.trainedValidationLoss());
        assertTrue(events(created.id()).stream().anyMatch(e -> e.level().equals("warn") && e.message().startsWith("Not promoted")));
    }

    @Test
    void promoteFalseRegistersWithoutPromoting() {
        JobView created = createJob(request("cafe", false));
        train(node1.expectMessageClass(TrainAdapter.class), new NodeId("n1"), 1, 2.0, 1.0);
        adapterCalls.expectMessageClass(AdapterProtocol.RegisterVersion.class);
        awaitStatus(created.id(), JobStatus.SUCCEEDED);
        assertEquals("the request set promote to false", job(created.id()).evaluationNote());
    }

    @Test
    void aRejectedAdapterFailsTheJob() {
        registerAnswer = AdapterProtocol.Reply.refused(AdapterProtocol.Error.REJECTED, "rank 4 exceeds the node's limit", null);
        JobView created = createJob(request("cafe", null));
        train(node1.expectMessageClass(TrainAdapter.class), new NodeId("n1"), 1, 2.0, 1.0);
        adapterCalls.expectMessageClass(AdapterProtocol.RegisterVersion.class);
        awaitStatus(created.id(), JobStatus.FAILED);
        JobView failed = job(created.id());
        assertEquals("adapter_rejected", failed.errorCode().apiName());
        assertTrue(failed.errorMessage().contains("rank 4 exceeds"), failed.errorMessage());
        assertNull(failed.fineTunedModel());
    }

    @Test
    void anInvalidFileReportedByTheNodeFailsWithoutRetry() {
        JobView created = createJob(request("cafe", null));
        TrainAdapter t = node1.expectMessageClass(TrainAdapter.class);
        t.replyTo().tell(new GpuNodeProtocol.TrainingFailed(t.jobId(), 1, TrainingFailureCode.INVALID_TRAINING_FILE, "line 3: no assistant message"));
        awaitStatus(created.id(), JobStatus.FAILED);
        assertEquals("invalid_training_file", job(created.id()).errorCode().apiName());
        node1.expectNoMessage(Duration.ofMillis(200));
    }

    // ---- cancel

    @Test
    void cancelStopsTheNodeAndRegistersNothing() {
        JobView created = createJob(request("cafe", null));
        TrainAdapter t = node1.expectMessageClass(TrainAdapter.class);
        t.replyTo().tell(new GpuNodeProtocol.TrainingStarted(t.jobId(), 1, new NodeId("n1"), 10, 100));
        awaitStatus(created.id(), JobStatus.RUNNING);
        JobReply cancelled = send(r -> new FineTuneProtocol.CancelJob(created.id(), r));
        assertTrue(cancelled.ok());
        assertEquals(JobStatus.CANCELLED, cancelled.job().status());
        assertEquals(new GpuNodeProtocol.CancelTraining(created.id()), node1.expectMessageClass(GpuNodeProtocol.CancelTraining.class));
        // the node finished before it heard the cancel: nothing is registered
        t.replyTo().tell(new GpuNodeProtocol.TrainingFinished(t.jobId(), 1, hash("late"), 100, 5, 2.0, 1.0));
        adapterCalls.expectNoMessage(Duration.ofMillis(300));
        assertEquals(JobStatus.CANCELLED, job(created.id()).status());
        JobReply again = send(r -> new FineTuneProtocol.CancelJob(created.id(), r));
        assertEquals(Error.CONFLICT, again.error());
        assertEquals(Error.NOT_FOUND, send(r -> new FineTuneProtocol.CancelJob("ftjob-missing", r)).error());
    }

    @Test
    void aQueuedJobCancelsWithoutANode() {
        kit.stop(nodeRef1);
        kit.createTestProbe().awaitAssert(() -> {
            TestProbe<Receptionist.Listing> listing = kit.createTestProbe();
            kit.system().receptionist().tell(Receptionist.find(GpuNodeProtocol.SERVICE_KEY, listing.ref()));
            assertFalse(listing.receiveMessage().getServiceInstances(GpuNodeProtocol.SERVICE_KEY).contains(nodeRef1));
            return null;
        });
        JobView created = createJob(request("cafe", null));
        assertEquals(JobStatus.QUEUED, job(created.id()).status());
        assertTrue(send(r -> new FineTuneProtocol.CancelJob(created.id(), r)).ok());
        assertEquals(JobStatus.CANCELLED, job(created.id()).status());
    }

    @Test
    void aJobWithNoNodeForTooLongFails() {
        kit.stop(nodeRef1);
        kit.createTestProbe().awaitAssert(() -> {
            TestProbe<Receptionist.Listing> listing = kit.createTestProbe();
            kit.system().receptionist().tell(Receptionist.find(GpuNodeProtocol.SERVICE_KEY, listing.ref()));
            assertTrue(listing.receiveMessage().getServiceInstances(GpuNodeProtocol.SERVICE_KEY).isEmpty());
            return null;
        });
        kit.stop(entity);
        FineTuneSettings s = settings;
        entity = kit.spawn(FineTuneEntity.create(tenant, new FineTuneSettings(s.maxAttempts(), s.progressTimeout(), s.dispatchRetry(),
                Duration.ofMillis(300), s.adapterTimeout(), s.persistProgressEvery(), s.maxEventsPerJob(), s.snapshotEvery(),
                s.defaults()), Clock.systemUTC()));
        JobView created = createJob(request("cafe", null));
        awaitStatus(created.id(), JobStatus.FAILED);
        assertEquals("no_gpu_node", job(created.id()).errorCode().apiName());
    }

    // ---- lost nodes, no progress, restarts

    @Test
    void aDeadNodesJobMovesToAnotherNodeThenFailsWhenAttemptsAreSpent() {
        nodeRef2 = node(node2, "b");
        JobView created = createJob(request("cafe", null));
        assertEquals(1, awaitTrain().attempt());
        stopTrainingNode();
        TrainAdapter second = awaitTrain();
        assertEquals(2, second.attempt());
        assertTrue(events(created.id()).stream().anyMatch(e -> e.message().contains("stopped or left the cluster")));
        stopTrainingNode();
        awaitStatus(created.id(), JobStatus.FAILED);
        JobView failed = job(created.id());
        assertEquals("node_lost", failed.errorCode().apiName());
        assertTrue(failed.errorMessage().startsWith("The job failed after 2 attempt(s)"), failed.errorMessage());
    }

    /** Which node got the last TrainAdapter of {@link #awaitTrain}: 1 or 2. */
    private int trainedOn;

    /** The next TrainAdapter on either node. */
    TrainAdapter awaitTrain() {
        long end = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (System.nanoTime() < end) {
            for (int i = 1; i <= 2; i++) {
                try {
                    if ((i == 1 ? node1 : node2).receiveMessage(Duration.ofMillis(50)) instanceof TrainAdapter t) {
                        trainedOn = i;
                        return t;
                    }
                } catch (AssertionError nothingYet) {
                    // poll the other node
                }
            }
        }
        throw new AssertionError("no node got a TrainAdapter");
    }

    /** Stops the node that got the last TrainAdapter of {@link #awaitTrain}. */
    void stopTrainingNode() {
        kit.stop(trainedOn == 1 ? nodeRef1 : nodeRef2);
    }

    @Test
    void noProgressFailsTheAttemptThenTheJob() {
        JobView created = createJob(request("cafe", null));
        TrainAdapter first = node1.expectMessageClass(TrainAdapter.class);
        first.replyTo().tell(new GpuNodeProtocol.TrainingStarted(first.jobId(), 1, new NodeId("n1"), 10, 100));
        assertEquals(new GpuNodeProtocol.CancelTraining(created.id()),
                node1.expectMessageClass(GpuNodeProtocol.CancelTraining.class, Duration.ofSeconds(5)));
        TrainAdapter second = node1.expectMessageClass(TrainAdapter.class);
        assertEquals(2, second.attempt());
        // a straggler of the first attempt is ignored
        first.replyTo().tell(new GpuNodeProtocol.TrainingFinished(first.jobId(), 1, hash("old"), 1, 1, 2.0, 1.0));
        node1.expectMessageClass(GpuNodeProtocol.CancelTraining.class, Duration.ofSeconds(5));
        awaitStatus(created.id(), JobStatus.FAILED);
        JobView failed = job(created.id());
        assertEquals("timeout", failed.errorCode().apiName());
        assertTrue(failed.errorMessage().contains("no progress from GPU node"), failed.errorMessage());
    }

    @Test
    void aRestartMidJobDispatchesItAgainAndItFinishes() {
        JobView created = createJob(request("cafe", null));
        TrainAdapter first = node1.expectMessageClass(TrainAdapter.class);
        first.replyTo().tell(new GpuNodeProtocol.TrainingStarted(first.jobId(), 1, new NodeId("n1"), 10, 100));
        awaitStatus(created.id(), JobStatus.RUNNING);
        restart();
        TrainAdapter second = node1.expectMessageClass(TrainAdapter.class);
        assertEquals(2, second.attempt());
        assertEquals(created.id(), second.jobId());
        train(second, new NodeId("n1"), 3, 2.0, 1.0);
        adapterCalls.expectMessageClass(AdapterProtocol.RegisterVersion.class);
        adapterCalls.expectMessageClass(AdapterProtocol.Promote.class);
        awaitStatus(created.id(), JobStatus.SUCCEEDED);
        assertTrue(events(created.id()).stream().anyMatch(e -> e.message().contains("interrupted")));
    }

    @Test
    void aRestartWithAttemptsSpentFailsTheJob() {
        JobView created = createJob(request("cafe", null));
        node1.expectMessageClass(TrainAdapter.class);
        restart();
        node1.expectMessageClass(TrainAdapter.class);
        restart();
        awaitStatus(created.id(), JobStatus.FAILED);
        assertEquals("interrupted", job(created.id()).errorCode().apiName());
    }

    @Test
    void aRestartAfterTrainingRegistersTheResult() {
        JobView created = createJob(request("cafe", null));
        silent = true;
        train(node1.expectMessageClass(TrainAdapter.class), new NodeId("n1"), 1, 2.0, 1.0);
        adapterCalls.expectMessageClass(AdapterProtocol.RegisterVersion.class);
        silent = false;
        restart();
        // the restarted entity registers the trained adapter again: the Adapter entity sees the same hash
        AdapterProtocol.RegisterVersion again = adapterCalls.expectMessageClass(AdapterProtocol.RegisterVersion.class);
        assertEquals(hash(created.id()), again.hash());
        adapterCalls.expectMessageClass(AdapterProtocol.Promote.class);
        awaitStatus(created.id(), JobStatus.SUCCEEDED);
        node1.expectNoMessage(Duration.ofMillis(100));
    }

    @Test
    void anAdapterEntityThatKeepsRefusingFailsTheJob() {
        registerAnswer = AdapterProtocol.Reply.refused(AdapterProtocol.Error.UNAVAILABLE, "catalog down", null);
        JobView created = createJob(request("cafe", null));
        train(node1.expectMessageClass(TrainAdapter.class), new NodeId("n1"), 1, 2.0, 1.0);
        adapterCalls.expectMessageClass(AdapterProtocol.RegisterVersion.class);
        adapterCalls.expectMessageClass(AdapterProtocol.RegisterVersion.class);
        awaitStatus(created.id(), JobStatus.FAILED);
        JobView failed = job(created.id());
        assertEquals("adapter_registration_failed", failed.errorCode().apiName());
        assertTrue(failed.errorMessage().contains("catalog down"), failed.errorMessage());
    }

    // ---- the node comes from placement: the job's base, ready and not draining (issue 16)

    static JobRequest requestFor(String model) {
        return new JobRequest("file-train", null, model, "cafe", 2, 1, 2.0, 4, 8.0, null, 7L);
    }

    @Test
    void aJobForBaseBTrainsOnANodeOfBaseB() {
        nodeRef2 = node(node2, "b");
        placement.describe(nodeRef2, "base-b", "identity-b", false);
        JobView created = createJob(requestFor("base-b"));
        TrainAdapter t = node2.expectMessageClass(TrainAdapter.class);
        assertEquals(created.id(), t.jobId());
        node1.expectNoMessage(Duration.ofMillis(200));
        assertEquals("base-b", placement.asked.stream().reduce((earlier, later) -> later).orElseThrow().baseModel());
        // the job records the node as placement named it
        assertTrue(events(created.id()).stream().anyMatch(e -> e.message().equals("Sent to GPU node "
                + FakePlacement.idOf(nodeRef2) + " (attempt 1)")), events(created.id()).toString());
    }

    @Test
    void aDrainingNodeNeverTrains() {
        placement.describe(nodeRef1, FakePlacement.DEFAULT_BASE, "identity", true);
        JobView created = createJob(request("cafe", null));
        node1.expectNoMessage(Duration.ofMillis(400));
        assertEquals(JobStatus.QUEUED, job(created.id()).status());
        nodeRef2 = node(node2, "b");
        assertEquals(created.id(), node2.expectMessageClass(TrainAdapter.class).jobId());
        node1.expectNoMessage(Duration.ofMillis(100));
    }

    @Test
    void aJobForABaseModelNoNodeServesWaitsItsQueueTimeoutThenFailsNamingIt() {
        JobView created = createJob(requestFor("llama-70b"));
        // not at once: a router that just started has not heard from the nodes of every base yet
        node1.expectNoMessage(Duration.ofMillis(1000));
        assertEquals(JobStatus.QUEUED, job(created.id()).status());
        awaitStatus(created.id(), JobStatus.FAILED);
        JobView failed = job(created.id());
        assertEquals("unknown_base_model", failed.errorCode().apiName());
        assertEquals("model", failed.errorParam());
        assertTrue(failed.errorMessage().startsWith("No GPU node can train on the base model 'llama-70b'"), failed.errorMessage());
        assertTrue(failed.errorMessage().endsWith("create the job again naming a base model the fleet serves"),
                failed.errorMessage());
        node1.expectNoMessage(Duration.ofMillis(100));
    }

    @Test
    void aRetryAvoidsTheNodeThatLostThePreviousAttemptWhenAnotherIsReady() {
        nodeRef2 = node(node2, "b");
        JobView created = createJob(request("cafe", null));
        // placement's first choice is node a; its attempt fails on the node, which stays up
        TrainAdapter first = node1.expectMessageClass(TrainAdapter.class);
        first.replyTo().tell(new GpuNodeProtocol.TrainingFailed(first.jobId(), 1, TrainingFailureCode.OUT_OF_MEMORY,
                "out of memory at step 3"));
        TrainAdapter second = node2.expectMessageClass(TrainAdapter.class);
        assertEquals(2, second.attempt());
        node1.expectNoMessage(Duration.ofMillis(100));
        PlacementProtocol.ChooseNode retry = placement.asked.stream()
                .filter(c -> !c.avoid().isEmpty() && c.avoid().contains(FakePlacement.idOf(nodeRef1)))
                .findFirst().orElseThrow(() -> new AssertionError("no ChooseNode avoided node a: " + placement.asked));
        assertEquals(PlacementProtocol.Work.TRAINING, retry.work());
        assertEquals(FakePlacement.DEFAULT_BASE, retry.baseModel());
        assertTrue(events(created.id()).stream().anyMatch(e -> e.message().contains("out of memory at step 3")));
    }

    void restart() {
        kit.stop(entity);
        entity = kit.spawn(FineTuneEntity.create(tenant, settings, Clock.systemUTC()));
    }

    // ---- through sharding: tenants see only their own

    @Test
    void anotherTenantsFilesAndJobsAreNotFound() throws Exception {
        var sharding = ClusterSharding.get(kit.system());
        var mine = sharding.entityRefFor(FineTuneProtocol.TYPE_KEY, tenant.value() + "-sharded");
        var theirs = sharding.entityRefFor(FineTuneProtocol.TYPE_KEY, tenant.value() + "-other");
        Duration timeout = Duration.ofSeconds(10);
        mine.<FineTuneProtocol.FileReply>ask(r -> new FineTuneProtocol.AddFile(file("file-train"), r), timeout)
                .toCompletableFuture().get();
        JobReply created = mine.<JobReply>ask(r -> new FineTuneProtocol.CreateJob(request("cafe", null), r), timeout)
                .toCompletableFuture().get();
        assertTrue(created.ok(), created.message());
        assertEquals(Error.NOT_FOUND, theirs.<FineTuneProtocol.FileReply>ask(r -> new FineTuneProtocol.GetFile("file-train", r),
                timeout).toCompletableFuture().get().error());
        assertEquals(Error.NOT_FOUND, theirs.<JobReply>ask(r -> new FineTuneProtocol.GetJob(created.job().id(), r), timeout)
                .toCompletableFuture().get().error());
        assertFalse(theirs.<FineTuneProtocol.JobEvents>ask(r -> new FineTuneProtocol.ListJobEvents(created.job().id(), null, 10, r),
                timeout).toCompletableFuture().get().found());
        TrainAdapter t = node1.expectMessageClass(TrainAdapter.class);
        assertEquals(new TenantId(tenant.value() + "-sharded"), t.tenant());
        assertTrue(mine.<JobReply>ask(r -> new FineTuneProtocol.CancelJob(t.jobId(), r), timeout).toCompletableFuture().get().ok());
        node1.expectMessageClass(GpuNodeProtocol.CancelTraining.class);
    }
}
