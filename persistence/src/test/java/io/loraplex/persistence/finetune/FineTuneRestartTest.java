package io.loraplex.persistence.finetune;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.loraplex.cluster.ContentHash;
import io.loraplex.cluster.NodeId;
import io.loraplex.cluster.TenantId;
import io.loraplex.cluster.adapter.AdapterProtocol;
import io.loraplex.cluster.finetune.FineTuneProtocol;
import io.loraplex.cluster.finetune.FineTuneProtocol.JobReply;
import io.loraplex.cluster.finetune.FineTuneProtocol.JobStatus;
import io.loraplex.cluster.node.GpuNodeProtocol;
import io.loraplex.cluster.node.GpuNodeProtocol.TrainAdapter;
import io.loraplex.cluster.placement.PlacementProtocol;
import io.loraplex.persistence.FakePlacement;
import io.loraplex.persistence.Journals;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.sharding.typed.javadsl.Entity;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityRef;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A job survives a restart of the whole (one-node) cluster on the embedded journal: the new
 * system wakes the remembered FineTune entity by itself, which sends the interrupted job to a GPU
 * node again, and the job finishes.
 */
class FineTuneRestartTest {

    static final TenantId TENANT = new TenantId("acme");

    @TempDir
    Path dataDir;

    ActorTestKit start(String name) {
        Config config = ConfigFactory.parseString("""
                pekko.loglevel = WARNING
                pekko.actor.provider = cluster
                pekko.remote.artery.canonical.hostname = "127.0.0.1"
                pekko.remote.artery.canonical.port = 0
                pekko.cluster.roles = ["router"]
                pekko.cluster.jmx.multi-mbeans-in-same-jvm = on
                pekko.actor.testkit.typed.single-expect-default = 20s
                """).withFallback(Journals.embedded(dataDir)).withFallback(ConfigFactory.load());
        ActorTestKit kit = ActorTestKit.create(name, config);
        Journals.prepare(kit.system(), Duration.ofSeconds(30));
        Cluster cluster = Cluster.get(kit.system());
        cluster.manager().tell(Join.create(cluster.selfMember().address()));
        kit.createTestProbe().awaitAssert(Duration.ofSeconds(20), () -> {
            assertEquals(MemberStatus.up(), cluster.selfMember().status());
            return null;
        });
        ClusterSharding.get(kit.system()).init(Entity.of(AdapterProtocol.TYPE_KEY, ctx -> Behaviors.receiveMessage(m -> {
            switch (m) {
                case AdapterProtocol.RegisterVersion r -> r.replyTo().tell(AdapterProtocol.Reply.ok(new AdapterProtocol.AdapterView(
                        r.tenant(), r.name(), true, null, null, 0, List.of(new AdapterProtocol.VersionView(1, r.hash(), r.bytes(),
                        AdapterProtocol.VersionState.READY, null, "base", 8, "training", 0, List.of())))));
                case AdapterProtocol.Promote p -> p.replyTo().tell(AdapterProtocol.Reply.ok(null));
                default -> {
                }
            }
            return Behaviors.same();
        })));
        FineTuneSharding.init(kit.system(), FineTuneSettings.create(kit.system().settings().config()), Clock.systemUTC());
        kit.system().receptionist().tell(Receptionist.register(PlacementProtocol.SERVICE_KEY,
                kit.spawn(new FakePlacement(kit.system(), "base").behavior())));
        return kit;
    }

    static TestProbe<GpuNodeProtocol.Command> node(ActorTestKit kit) {
        TestProbe<GpuNodeProtocol.Command> probe = kit.createTestProbe();
        ActorRef<GpuNodeProtocol.Command> ref = kit.spawn(Behaviors.receiveMessage(m -> {
            probe.ref().tell(m);
            return Behaviors.same();
        }), "node");
        kit.system().receptionist().tell(Receptionist.register(GpuNodeProtocol.SERVICE_KEY, ref));
        return probe;
    }

    static EntityRef<FineTuneProtocol.Command> entity(ActorTestKit kit) {
        return ClusterSharding.get(kit.system()).entityRefFor(FineTuneProtocol.TYPE_KEY, TENANT.value());
    }

    static JobReply getJob(ActorTestKit kit, String id) throws Exception {
        return entity(kit).<JobReply>ask(r -> new FineTuneProtocol.GetJob(id, r), Duration.ofSeconds(10)).toCompletableFuture().get();
    }

    @Test
    void aRunningJobFinishesAfterTheClusterRestarts() throws Exception {
        ActorTestKit first = start("fine-tune-before");
        String jobId;
        try {
            TestProbe<GpuNodeProtocol.Command> node = node(first);
            entity(first).<FineTuneProtocol.FileReply>ask(r -> new FineTuneProtocol.AddFile(FineTuneEntityTest.file("file-train"), r),
                    Duration.ofSeconds(10)).toCompletableFuture().get();
            JobReply created = entity(first).<JobReply>ask(r -> new FineTuneProtocol.CreateJob(FineTuneEntityTest.request("cafe", null),
                    r), Duration.ofSeconds(10)).toCompletableFuture().get();
            jobId = created.job().id();
            TrainAdapter t = node.expectMessageClass(TrainAdapter.class);
            t.replyTo().tell(new GpuNodeProtocol.TrainingStarted(jobId, 1, new NodeId("n1"), 10, 100));
            first.createTestProbe().awaitAssert(() -> {
                assertEquals(JobStatus.RUNNING, getJob(first, jobId).job().status());
                return null;
            });
        } finally {
            first.shutdownTestKit();
        }

        ActorTestKit second = start("fine-tune-after");
        try {
            // nobody asks the entity: remembered, it starts with its shard and picks the job up
            TestProbe<GpuNodeProtocol.Command> node = node(second);
            TrainAdapter again = node.expectMessageClass(TrainAdapter.class, Duration.ofSeconds(30));
            assertEquals(jobId, again.jobId());
            assertEquals(2, again.attempt());
            byte[] b = jobId.getBytes(StandardCharsets.UTF_8);
            again.replyTo().tell(new GpuNodeProtocol.TrainingStarted(jobId, 2, new NodeId("n2"), 10, 1));
            again.replyTo().tell(new GpuNodeProtocol.TrainingFinished(jobId, 2, ContentHash.of(b, b), 100, 50, 2.0, 1.0));
            second.createTestProbe().awaitAssert(() -> {
                assertEquals(JobStatus.SUCCEEDED, getJob(second, jobId).job().status());
                return null;
            });
            assertTrue(getJob(second, jobId).job().promoted());
        } finally {
            second.shutdownTestKit();
        }
    }
}
