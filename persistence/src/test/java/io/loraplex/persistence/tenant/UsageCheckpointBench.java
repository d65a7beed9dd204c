package io.loraplex.persistence.tenant;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.loraplex.cluster.TenantId;
import io.loraplex.cluster.tenant.TenantProtocol.Command;
import io.loraplex.cluster.tenant.TenantProtocol.GetUsage;
import io.loraplex.cluster.tenant.TenantProtocol.Limits;
import io.loraplex.cluster.tenant.TenantProtocol.Passivate;
import io.loraplex.cluster.tenant.TenantProtocol.UsageReport;
import io.loraplex.persistence.Journals;
import io.loraplex.persistence.journal.EventLog;
import io.loraplex.persistence.tenant.TenantEvent.TenantCreated;
import io.loraplex.persistence.tenant.TenantEvent.UsageRecorded;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.Terminated;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;
import org.apache.pekko.persistence.query.PersistenceQuery;
import org.apache.pekko.serialization.Serialization;
import org.apache.pekko.serialization.SerializationExtension;
import org.apache.pekko.serialization.Serializer;
import org.apache.pekko.serialization.Serializers;

/**
 * The first usage report of a started Tenant entity, with and without a usage checkpoint, on the
 * embedded journal: a tenant that flushed usage every 10 s for {@code days} days
 * ({@value #EVENTS_PER_DAY} events a day, written straight into the journal, with a snapshot of its
 * state at the end so that recovery replays nothing). First the report of an entity with no
 * checkpoint (it reads the whole journal, then saves one); then, a day of usage later, the report of a
 * restarted entity (it reads the day after the checkpoint). Prints the events each read and how long
 * each report took. Run from the repository root:
 *
 * <pre>
 * ./mvnw -q -o -pl persistence exec:java -Dexec.classpathScope=test \
 *     -Dexec.mainClass=io.loraplex.persistence.tenant.UsageCheckpointBench -Dexec.args="30"
 * </pre>
 */
public final class UsageCheckpointBench {

    /** One UsageRecorded per 10 s flush, all day. */
    static final int EVENTS_PER_DAY = 8_640;
    static final Duration TIMEOUT = Duration.ofMinutes(10);

    private UsageCheckpointBench() {
    }

    public static void main(String[] args) throws Exception {
        int days = args.length > 0 ? Integer.parseInt(args[0]) : 30;
        if (days < 1 || days > 365) {
            throw new IllegalArgumentException("days is 1 to 365 (within the usage retention), got " + days);
        }
        Path dir = Files.createTempDirectory("loraplex-usage-bench");
        Config config = ConfigFactory.parseString("""
                pekko.loglevel = WARNING
                pekko.actor.provider = cluster
                pekko.remote.artery.canonical.hostname = "127.0.0.1"
                pekko.remote.artery.canonical.port = 0
                pekko.cluster.roles = ["router"]
                loraplex-journal.fsync = off
                loraplex.tenant.read-journal = "%s"
                """.formatted(CountingReadJournal.PLUGIN))
                .withFallback(CountingReadJournal.config("loraplex-read-journal"))
                .withFallback(Journals.embedded(dir)).withFallback(ConfigFactory.load());
        TenantId tenant = new TenantId("bench");
        String persistenceId = TenantEntity.persistenceId(tenant).id();
        Clock clock = Clock.systemUTC();
        // the tenant's days end two days ago: no hour of them ages out, and the last day goes after the checkpoint
        long firstHour = clock.instant().getEpochSecond() / 3600 - 24L * (days + 2);

        ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "usage-bench", config);
        Cluster.get(system).manager().tell(Join.create(Cluster.get(system).selfMember().address()));
        Journals.prepare(system, TIMEOUT);
        Journal journal = new Journal(EventLog.acquire(config.getConfig("loraplex-journal")), SerializationExtension.get(system),
                persistenceId);
        try {
            journal.write(List.of(new TenantCreated(new TenantState.Profile("Bench", "pro", 1.0, Limits.generous()),
                    clock.millis())));
            for (int day = 0; day < days; day++) {
                journal.writeDay(firstHour + 24L * day);
            }
            journal.snapshot();
            TenantSettings settings = TenantSettings.create(system.settings().config());
            CountingReadJournal counting = PersistenceQuery.get(Adapter.toClassic(system))
                    .getReadJournalFor(CountingReadJournal.class, CountingReadJournal.PLUGIN);

            Measure full = report(system, tenant, settings, clock, counting, persistenceId, "full");
            // the read saved a checkpoint at the journal's end; wait for it
            long deadline = System.nanoTime() + TIMEOUT.toNanos();
            EventLog.SnapshotRange atTheEnd = new EventLog.SnapshotRange(journal.sequenceNr, journal.sequenceNr, 0, Long.MAX_VALUE);
            String checkpointId = UsageCheckpointStore.persistenceId(tenant).id();
            while (journal.log.latestSnapshot(checkpointId, atTheEnd).isEmpty()) {
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("no usage checkpoint was saved at " + journal.sequenceNr);
                }
                Thread.sleep(10);
            }
            int checkpointBytes = journal.log.latestSnapshot(checkpointId, atTheEnd).orElseThrow().payload().length;
            journal.writeDay(firstHour + 24L * days);
            journal.snapshot();
            Measure checkpointed = report(system, tenant, settings, clock, counting, persistenceId, "checkpointed");
            if (checkpointed.rows() != full.rows() + 24) {
                throw new IllegalStateException("the report after the checkpoint has " + checkpointed.rows() + " rows, expected "
                        + (full.rows() + 24));
            }

            System.out.printf("embedded journal, %d days of usage (%d events), checkpoint every %d:%n", days,
                    (long) days * EVENTS_PER_DAY, settings.usageCheckpointEvery());
            System.out.printf("  no checkpoint:            first report read %,d events in %,d ms (%d rows)%n", full.events(),
                    full.millis(), full.rows());
            System.out.printf("  checkpoint 1 day before:  first report read %,d events in %,d ms (%d rows)%n", checkpointed.events(),
                    checkpointed.millis(), checkpointed.rows());
            System.out.printf("  the checkpoint: %,d bytes (%d rows)%n", checkpointBytes, full.rows());
        } finally {
            journal.log.close();
            system.terminate();
            system.getWhenTerminated().toCompletableFuture().get();
        }
    }

    record Measure(long events, long millis, int rows) {
    }

    /** A fresh entity's first usage report: the events its read returned, its time, its rows. */
    private static Measure report(ActorSystem<Void> system, TenantId tenant, TenantSettings settings, Clock clock,
            CountingReadJournal counting, String persistenceId, String name) {
        ActorRef<Command> entity = system.systemActorOf(TenantEntity.create(tenant, settings, clock), "tenant-" + name,
                Props.empty());
        long start = System.nanoTime();
        UsageReport report = AskPattern.<Command, UsageReport>ask(entity, r -> new GetUsage(0, Long.MAX_VALUE, r), TIMEOUT,
                system.scheduler()).toCompletableFuture().join();
        long millis = (System.nanoTime() - start) / 1_000_000;
        // stopped (Passivate) before the next entity of the tenant starts
        CompletableFuture<Void> stopped = new CompletableFuture<>();
        system.systemActorOf(Behaviors.<Void>setup(context -> {
            context.watch(entity);
            entity.tell(new Passivate());
            return Behaviors.<Void>receive(Void.class).onSignal(Terminated.class, t -> {
                stopped.complete(null);
                return Behaviors.stopped();
            }).build();
        }), "stop-" + name, Props.empty());
        stopped.orTimeout(TIMEOUT.toSeconds(), TimeUnit.SECONDS).join();
        return new Measure(counting.reads(persistenceId).getLast().eventCount(), millis, report.rows().size());
    }

    /** Writes the tenant's events and state snapshot straight into the embedded journal, as the entity would have. */
    private static final class Journal {
        final EventLog log;
        final Serialization serialization;
        final String persistenceId;
        long sequenceNr;
        TenantState state = TenantState.EMPTY;

        Journal(EventLog log, Serialization serialization, String persistenceId) {
            this.log = log;
            this.serialization = serialization;
            this.persistenceId = persistenceId;
        }

        /** A day of 10 s flushes, one request of 10 tokens each, from {@code hour} on. */
        void writeDay(long hour) {
            List<TenantEvent> day = new ArrayList<>(EVENTS_PER_DAY);
            for (int i = 0; i < EVENTS_PER_DAY; i++) {
                day.add(new UsageRecorded(hour + i / (EVENTS_PER_DAY / 24), "", 1, 10));
            }
            write(day);
        }

        void write(List<TenantEvent> events) {
            List<EventLog.Event> frames = new ArrayList<>(events.size());
            for (TenantEvent event : events) {
                Serializer serializer = serialization.findSerializerFor(event);
                frames.add(new EventLog.Event(persistenceId, ++sequenceNr, System.currentTimeMillis(), "bench", "",
                        serializer.identifier(), Serializers.manifestFor(serializer, event), serializer.toBinary(event)));
                state = state.apply(event);
            }
            log.append(List.of(new EventLog.Write.Events(frames))).join();
        }

        /** The state at the last event: the entity recovers from it and replays nothing. */
        void snapshot() {
            Serializer serializer = serialization.findSerializerFor(state);
            log.append(List.of(new EventLog.Write.SaveSnapshot(new EventLog.Snapshot(persistenceId, sequenceNr,
                    System.currentTimeMillis(), serializer.identifier(), Serializers.manifestFor(serializer, state),
                    serializer.toBinary(state))))).join();
        }
    }
}
