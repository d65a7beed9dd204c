package io.loraplex.persistence.tenant;

import com.datastax.oss.driver.api.core.CqlSession;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.loraplex.cluster.TenantId;
import io.loraplex.cluster.tenant.TenantProtocol.Ack;
import io.loraplex.cluster.tenant.TenantProtocol.Command;
import io.loraplex.cluster.tenant.TenantProtocol.Limits;
import io.loraplex.cluster.tenant.TenantProtocol.Setup;
import io.loraplex.cluster.tenant.TenantProtocol.TrackAdapterName;
import io.loraplex.persistence.CassandraNode;
import io.loraplex.persistence.Journals;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.IntConsumer;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;

/**
 * Journal benchmark of the Tenant entity: events per second sustained while {@code tenants} tenants
 * each journal {@value #EVENTS_PER_TENANT} events ({@code concurrency} tenants at a time, each
 * waiting for every acknowledgement), then the time a fresh ActorSystem takes to recover all of
 * them through sharding ({@link TenantRecovery#wakeAll}: the journal lists the persistence ids, each
 * tenant gets a GetInfo, {@code concurrency} at a time). Run from the repository root:
 *
 * <pre>
 * ./mvnw -q -o -pl persistence exec:java -Dexec.classpathScope=test \
 *     -Dexec.mainClass=io.loraplex.persistence.tenant.TenantJournalBench -Dexec.args="h2 10000 64"
 * </pre>
 *
 * ({@code embedded} instead of {@code h2}: the embedded journal, fsync on; {@code embedded-nosync}: with
 * {@code fsync = off}; {@code cassandra}: against 127.0.0.1:9042, see deploy/cassandra/cassandra.sh).
 */
public final class TenantJournalBench {

    static final int EVENTS_PER_TENANT = 5;
    static final Duration TIMEOUT = Duration.ofSeconds(60);

    private TenantJournalBench() {
    }

    public static void main(String[] args) throws Exception {
        String journal = args.length > 0 ? args[0] : "h2";
        int tenants = args.length > 1 ? Integer.parseInt(args[1]) : 10_000;
        int concurrency = args.length > 2 ? Integer.parseInt(args[2]) : 64;
        Config journalConfig = switch (journal) {
            case "h2" -> Journals.h2(Files.createTempDirectory("loraplex-bench"));
            case "embedded" -> Journals.embedded(Files.createTempDirectory("loraplex-bench"));
            case "embedded-nosync" -> ConfigFactory.parseString("loraplex-journal.fsync = off")
                    .withFallback(Journals.embedded(Files.createTempDirectory("loraplex-bench")));
            case "cassandra" -> {
                try (CqlSession session = CassandraNode.session()) {
                    session.execute(CassandraNode.schemaChange("DROP KEYSPACE IF EXISTS loraplex_bench"));
                }
                yield Journals.cassandra(CassandraNode.HOST, CassandraNode.PORT, "loraplex_bench");
            }
            default -> throw new IllegalArgumentException("journal is embedded, embedded-nosync, h2 or cassandra, got " + journal);
        };
        Config config = journalConfig.withFallback(ConfigFactory.parseString("""
                pekko.loglevel = WARNING
                pekko.actor.provider = cluster
                pekko.remote.artery.canonical.hostname = "127.0.0.1"
                pekko.remote.artery.canonical.port = 0
                pekko.cluster.roles = ["router"]
                """)).withFallback(ConfigFactory.load());
        Limits limits = Limits.generous();

        ActorSystem<Void> writer = start(config);
        List<ActorRef<Command>> entities = spawn(writer, tenants);
        // the first write creates tables (and a Cassandra keyspace): not part of the measure
        ask(writer, entities.getFirst(), r -> new Setup("Tenant 0", "pro", 1.0, limits, r));
        long writeStart = System.nanoTime();
        run(tenants, concurrency, i -> {
            ActorRef<Command> tenant = entities.get(i);
            if (i > 0) {
                ask(writer, tenant, r -> new Setup("Tenant " + i, "pro", 1.0, limits, r));
            }
            for (int n = 1; n < EVENTS_PER_TENANT; n++) {
                String name = "adapter-" + n;
                ask(writer, tenant, r -> new TrackAdapterName(name, true, r));
            }
        });
        double writeSeconds = (System.nanoTime() - writeStart) / 1e9;
        long events = (long) tenants * EVENTS_PER_TENANT - 1;
        stop(writer);

        ActorSystem<Void> reader = start(config);
        TenantSharding.init(reader);
        long recoveryStart = System.nanoTime();
        int woken = TenantRecovery.wakeAll(reader, concurrency, TIMEOUT).toCompletableFuture().join();
        if (woken != tenants) {
            throw new IllegalStateException("woke " + woken + " tenants of " + tenants);
        }
        double recoverySeconds = (System.nanoTime() - recoveryStart) / 1e9;
        stop(reader);

        System.out.printf("%s: %d events by %d tenants (%d at a time) in %.1f s: %.0f events/s%n", journal, events, tenants,
                concurrency, writeSeconds, events / writeSeconds);
        System.out.printf("%s: recovered %d tenants (%d events) in %.1f s: %.0f tenants/s%n", journal, tenants, events + 1,
                recoverySeconds, tenants / recoverySeconds);
    }

    private static ActorSystem<Void> start(Config config) {
        ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "bench", config);
        Cluster cluster = Cluster.get(system);
        cluster.manager().tell(Join.create(cluster.selfMember().address()));
        Journals.prepare(system, TIMEOUT);
        return system;
    }

    private static void stop(ActorSystem<Void> system) throws Exception {
        system.terminate();
        system.getWhenTerminated().toCompletableFuture().get();
    }

    private static List<ActorRef<Command>> spawn(ActorSystem<Void> system, int tenants) {
        TenantSettings settings = TenantSettings.create(system.settings().config());
        List<ActorRef<Command>> refs = new ArrayList<>(tenants);
        for (int i = 0; i < tenants; i++) {
            refs.add(system.systemActorOf(TenantEntity.create(new TenantId("bench-" + i), settings, Clock.systemUTC()),
                    "tenant-" + i, Props.empty()));
        }
        return refs;
    }

    private static void ask(ActorSystem<Void> system, ActorRef<Command> tenant,
            org.apache.pekko.japi.function.Function<ActorRef<Ack>, Command> command) {
        Ack ack = AskPattern.ask(tenant, command, TIMEOUT, system.scheduler()).toCompletableFuture().join();
        if (!ack.ok()) {
            throw new IllegalStateException("refused: " + ack.message());
        }
    }

    /** Runs {@code work} for 0..count-1 on {@code threads} threads, each index once; rethrows the first failure. */
    public static void run(int count, int threads, IntConsumer work) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Future<?>> futures = new ArrayList<>(count);
            for (int i = 0; i < count; i++) {
                int index = i;
                futures.add(pool.submit(() -> work.accept(index)));
            }
            for (Future<?> f : futures) {
                f.get();
            }
        } finally {
            pool.shutdownNow();
        }
    }
}
