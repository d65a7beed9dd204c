package io.loraplex.persistence.tenant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.datastax.oss.driver.api.core.CqlSession;
import com.datastax.oss.driver.api.core.cql.Row;
import com.typesafe.config.Config;
import io.loraplex.cluster.TenantId;
import io.loraplex.cluster.tenant.TenantProtocol.Ack;
import io.loraplex.cluster.tenant.TenantProtocol.Command;
import io.loraplex.cluster.tenant.TenantProtocol.Info;
import io.loraplex.cluster.tenant.TenantProtocol.GetInfo;
import io.loraplex.cluster.tenant.TenantProtocol.Scope;
import io.loraplex.cluster.tenant.TenantProtocol.Setup;
import io.loraplex.cluster.tenant.TenantProtocol.TrackAdapterName;
import io.loraplex.persistence.CassandraNode;
import io.loraplex.persistence.Journals;
import java.time.Duration;
import java.util.List;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The Tenant entity suite on a real Cassandra (started by {@code deploy/cassandra/cassandra.sh}),
 * in a keyspace of its own, dropped afterwards; plus what the driver reads from the journal tables.
 * Runs in the {@code cassandra} Maven profile only.
 */
@Tag("cassandra")
class TenantEntityCassandraTest extends TenantEntitySuite {

    final String keyspace = "loraplex_test_" + Long.toString(System.currentTimeMillis(), 36);

    @Override
    Config journal() {
        CassandraNode.ensureRunning();
        return Journals.cassandra(CassandraNode.HOST, CassandraNode.PORT, keyspace);
    }

    /** The plugin creates its keyspace and tables on first use: one slow write here, not in a test. */
    @Override
    void prepare(ActorSystem<?> system) {
        ActorRef<Command> warmUp = system.systemActorOf(TenantEntity.create(new TenantId("warm-up"),
                TenantSettings.create(system.settings().config()), clock), "warm-up",
                org.apache.pekko.actor.typed.Props.empty());
        TestProbe<Ack> probe = TestProbe.create(system);
        warmUp.tell(new Setup("Warm-up", "pro", 1.0, ROOMY, probe.ref()));
        assertEquals(Ack.done(), probe.receiveMessage(Duration.ofSeconds(120)));
    }

    @AfterAll
    void dropKeyspace() {
        try (CqlSession session = CassandraNode.session()) {
            session.execute(CassandraNode.schemaChange("DROP KEYSPACE IF EXISTS " + keyspace));
        }
    }

    @Test
    void theEventsAreInCassandrasJournalTable() {
        String id = setUp(ROOMY);
        addKey(id, Scope.CHAT);
        assertEquals(Ack.done(), ack(id, r -> new TrackAdapterName("cafe", true, r)));
        Info info = ask(id, Info.class, GetInfo::new);
        assertEquals(1, info.keys());

        try (CqlSession session = CassandraNode.session()) {
            List<Row> rows = session.execute("SELECT sequence_nr, ser_manifest, event FROM " + keyspace
                    + ".messages WHERE persistence_id = ? AND partition_nr = 0",
                    TenantEntity.persistenceId(new TenantId(id)).id()).all();
            // each manifest carries the event's schema version
            assertEquals(List.of(TenantEvent.TenantCreated.class.getName() + "#1", TenantEvent.ApiKeyAdded.class.getName() + "#1",
                    TenantEvent.AdapterNameTracked.class.getName() + "#1"), rows.stream().map(r -> r.getString("ser_manifest")).toList());
            assertEquals(List.of(1L, 2L, 3L), rows.stream().map(r -> r.getLong("sequence_nr")).toList());
            assertTrue(rows.getFirst().getByteBuffer("event").remaining() > 0);
        }
    }
}
