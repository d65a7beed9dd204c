package io.loraplex.persistence.adapter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.datastax.oss.driver.api.core.CqlSession;
import com.datastax.oss.driver.api.core.cql.Row;
import com.typesafe.config.Config;
import io.loraplex.cluster.adapter.AdapterProtocol.RegisterVersion;
import io.loraplex.cluster.adapter.AdapterProtocol.Reply;
import io.loraplex.persistence.CassandraNode;
import io.loraplex.persistence.Journals;
import java.time.Duration;
import java.util.List;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The Adapter entity suite on a real Cassandra (started by {@code deploy/cassandra/cassandra.sh}),
 * in a keyspace of its own, dropped afterwards; plus what the driver reads from the journal table.
 * Runs in the {@code cassandra} Maven profile only.
 */
@Tag("cassandra")
class AdapterEntityCassandraTest extends AdapterEntitySuite {

    final String keyspace = "loraplex_adapter_" + Long.toString(System.currentTimeMillis(), 36);

    @Override
    Config journal() {
        CassandraNode.ensureRunning();
        return Journals.cassandra(CassandraNode.HOST, CassandraNode.PORT, keyspace);
    }

    /** The plugin creates its keyspace and tables on first use: one slow write here, not in a test. */
    @Override
    void warmUp() {
        Fixture f = new Fixture();
        TestProbe<Reply> probe = testKit.createTestProbe(Reply.class);
        f.entity.tell(new RegisterVersion(f.tenant, f.name, randomHash(), MB, "upload", probe.ref()));
        assertTrue(probe.receiveMessage(Duration.ofSeconds(120)).ok());
    }

    @AfterAll
    void dropKeyspace() {
        try (CqlSession session = CassandraNode.session()) {
            session.execute(CassandraNode.schemaChange("DROP KEYSPACE IF EXISTS " + keyspace));
        }
    }

    @Test
    void theEventsAreInCassandrasJournalTable() {
        Fixture f = new Fixture();
        assertTrue(f.register(randomHash(), MB).ok());
        try (CqlSession session = CassandraNode.session()) {
            List<Row> rows = session.execute("SELECT sequence_nr, ser_manifest, event FROM " + keyspace
                    + ".messages WHERE persistence_id = ? AND partition_nr = 0",
                    AdapterEntity.persistenceId(f.tenant, f.name).id()).all();
            // each manifest carries the event's schema version
            assertEquals(List.of(AdapterEvent.VersionUploaded.class.getName() + "#1", AdapterEvent.VersionValidated.class.getName() + "#1"),
                    rows.stream().map(r -> r.getString("ser_manifest")).toList());
            assertEquals(List.of(1L, 2L), rows.stream().map(r -> r.getLong("sequence_nr")).toList());
            assertTrue(rows.getFirst().getByteBuffer("event").remaining() > 0);
        }
    }
}
