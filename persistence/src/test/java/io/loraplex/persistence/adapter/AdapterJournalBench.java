package io.loraplex.persistence.adapter;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.loraplex.cluster.ContentHash;
import io.loraplex.cluster.TenantId;
import io.loraplex.cluster.adapter.AdapterProtocol;
import io.loraplex.cluster.blob.BlobProtocol;
import io.loraplex.cluster.node.GpuNodeProtocol;
import io.loraplex.cluster.tenant.TenantProtocol;
import io.loraplex.persistence.Journals;
import io.loraplex.persistence.tenant.TenantJournalBench;
import io.loraplex.persistence.tenant.TenantSharding;
import java.nio.file.Files;
import java.time.Duration;
import java.util.HexFormat;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;

/**
 * Journal benchmark of the Adapter entity: {@code count} adapters of one tenant each registered
 * (quota reservation, validation by a stand-in GPU node that accepts everything) and promoted
 * (catalog change acknowledged by the real Tenant entity), {@code concurrency} at a time; then, in
 * a fresh ActorSystem on the same journal, the two costs of a restart: the blob index (every
 * adapter replayed from the journal, what the embedded server runs before it opens its API), and
 * waking every adapter entity with a {@code Get} (recovery through sharding, each view checked).
 *
 * <pre>
 * ./mvnw -q -o -pl persistence exec:java -Dexec.classpathScope=test \
 *     -Dexec.mainClass=io.loraplex.persistence.adapter.AdapterJournalBench -Dexec.args="10000 64"
 * </pre>
 */
public final class AdapterJournalBench {

    static final Duration TIMEOUT = Duration.ofSeconds(60);
    static final TenantId TENANT = new TenantId("bench");

    private AdapterJournalBench() {
    }

    public static void main(String[] args) throws Exception {
        int count = args.length > 0 ? Integer.parseInt(args[0]) : 10_000;
        int concurrency = args.length > 1 ? Integer.parseInt(args[1]) : 64;
        Config config = Journals.h2(Files.createTempDirectory("loraplex-adapter-bench")).withFallback(ConfigFactory.parseString("""
                pekko.loglevel = WARNING
                pekko.actor.provider = cluster
                pekko.remote.artery.canonical.hostname = "127.0.0.1"
                pekko.remote.artery.canonical.port = 0
                pekko.cluster.roles = ["router"]
                """)).withFallback(ConfigFactory.load());

        ActorSystem<Void> writer = start(config);
        ClusterSharding sharding = ClusterSharding.get(writer);
        TenantProtocol.Ack setup = sharding.entityRefFor(TenantProtocol.TYPE_KEY, TENANT.value())
                .<TenantProtocol.Ack>ask(r -> new TenantProtocol.Setup("Bench", "pro", 1.0, TenantProtocol.Limits.generous(), r),
                        TIMEOUT).toCompletableFuture().join();
        require(setup.ok(), setup.message());
        long writeStart = System.nanoTime();
        TenantJournalBench.run(count, concurrency, i -> {
            var adapter = sharding.entityRefFor(AdapterProtocol.TYPE_KEY, AdapterProtocol.entityId(TENANT, name(i)));
            AdapterProtocol.Reply registered = adapter.<AdapterProtocol.Reply>ask(r -> new AdapterProtocol.RegisterVersion(TENANT,
                    name(i), hash(i), 1024, "upload", r), TIMEOUT).toCompletableFuture().join();
            require(registered.ok(), registered.message());
            AdapterProtocol.Reply promoted = adapter.<AdapterProtocol.Reply>ask(r -> new AdapterProtocol.Promote(1, r), TIMEOUT)
                    .toCompletableFuture().join();
            require(promoted.ok(), promoted.message());
        });
        double writeSeconds = (System.nanoTime() - writeStart) / 1e9;
        stop(writer);

        ActorSystem<Void> reader = start(config);
        long indexStart = System.nanoTime();
        AdapterIndex.ReferencedBlobs referenced = AdapterIndex.referencedBlobs(reader).toCompletableFuture().join();
        double indexSeconds = (System.nanoTime() - indexStart) / 1e9;
        require(referenced.byTenant().get(TENANT).size() == count, "the index found " + referenced.byTenant().get(TENANT).size());
        ClusterSharding readSharding = ClusterSharding.get(reader);
        long wakeStart = System.nanoTime();
        TenantJournalBench.run(count, concurrency, i -> {
            AdapterProtocol.Reply view = readSharding.entityRefFor(AdapterProtocol.TYPE_KEY, AdapterProtocol.entityId(TENANT, name(i)))
                    .<AdapterProtocol.Reply>ask(AdapterProtocol.Get::new, TIMEOUT).toCompletableFuture().join();
            require(Integer.valueOf(1).equals(view.view().promotedVersion()), "adapter " + i + " recovered as " + view.view());
        });
        double wakeSeconds = (System.nanoTime() - wakeStart) / 1e9;
        stop(reader);

        // each adapter journals 3 events: uploaded, validated, promoted
        System.out.printf("h2: %d adapters registered and promoted (%d events, %d at a time) in %.1f s: %.0f events/s%n", count,
                3L * count, concurrency, writeSeconds, 3L * count / writeSeconds);
        System.out.printf("h2: blob index over %d adapters (replayed from the journal) in %.1f s%n", count, indexSeconds);
        System.out.printf("h2: %d adapter entities recovered through sharding in %.1f s: %.0f adapters/s%n", count, wakeSeconds,
                count / wakeSeconds);
    }

    static String name(int i) {
        return "adapter-" + i;
    }

    static ContentHash hash(int i) {
        byte[] b = new byte[32];
        for (int k = 0; k < 4; k++) {
            b[k] = (byte) (i >>> (8 * k));
        }
        b[31] = 1;
        return new ContentHash(HexFormat.of().formatHex(b));
    }

    private static ActorSystem<Void> start(Config config) {
        ActorSystem<Void> system = ActorSystem.create(Behaviors.setup(ctx -> {
            ActorRef<GpuNodeProtocol.Command> node = ctx.spawn(TestCollaborators.gpuNode(), "gpu-node");
            ctx.getSystem().receptionist().tell(Receptionist.register(GpuNodeProtocol.SERVICE_KEY, node));
            ActorRef<BlobProtocol.Command> blobs = ctx.spawn(TestCollaborators.blobStore(), "blob-store");
            ctx.getSystem().receptionist().tell(Receptionist.register(BlobProtocol.SERVICE_KEY, blobs));
            ctx.getSystem().receptionist().tell(Receptionist.register(BlobProtocol.SOURCE_KEY, blobs));
            return Behaviors.empty();
        }), "bench", config);
        Cluster cluster = Cluster.get(system);
        cluster.manager().tell(Join.create(cluster.selfMember().address()));
        Journals.prepare(system, TIMEOUT);
        TenantSharding.init(system);
        AdapterSharding.init(system);
        return system;
    }

    private static void stop(ActorSystem<Void> system) throws Exception {
        system.terminate();
        system.getWhenTerminated().toCompletableFuture().get();
    }

    private static void require(boolean ok, String message) {
        if (!ok) {
            throw new IllegalStateException(message);
        }
    }
}
