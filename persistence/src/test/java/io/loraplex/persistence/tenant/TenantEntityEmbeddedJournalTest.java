package io.loraplex.persistence.tenant;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.typesafe.config.Config;
import io.loraplex.cluster.TenantId;
import io.loraplex.cluster.tenant.TenantProtocol.Command;
import io.loraplex.cluster.tenant.TenantProtocol.GetInfo;
import io.loraplex.cluster.tenant.TenantProtocol.GetUsage;
import io.loraplex.cluster.tenant.TenantProtocol.Info;
import io.loraplex.cluster.tenant.TenantProtocol.UsageReport;
import io.loraplex.cluster.tenant.TenantProtocol.UsageRow;
import io.loraplex.persistence.Journals;
import io.loraplex.persistence.journal.EventLog;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.serialization.Serialization;
import org.apache.pekko.serialization.SerializationExtension;
import org.apache.pekko.serialization.Serializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The Tenant entity suite on the embedded journal, in a temporary data directory. */
class TenantEntityEmbeddedJournalTest extends TenantEntitySuite {

    @TempDir
    static Path dataDir;

    @Override
    Config journal() {
        return Journals.embedded(dataDir);
    }

    @Test
    void aJournalWrittenWhileTheStateHeldTheUsageHistoryRecoversAndReportsItsUsage() throws IOException {
        // the committed fixtures' bytes as they were journaled: 17 events, then a version-1 snapshot holding the usage
        String id = newTenantId();
        String persistenceId = TenantEntity.persistenceId(new TenantId(id)).id();
        List<String> index = new String(fixture("index.txt"), StandardCharsets.UTF_8).lines().filter(l -> !l.isBlank()).toList();
        List<EventLog.Write> writes = new ArrayList<>();
        for (int i = 0; i < index.size(); i++) {
            String[] entry = index.get(i).split(" ");
            byte[] bytes = fixture(entry[0]);
            if (entry[0].equals("state.cbor")) {
                writes.add(new EventLog.Write.SaveSnapshot(new EventLog.Snapshot(persistenceId, i, 0, Integer.parseInt(entry[1]),
                        entry[2], bytes)));
            } else {
                writes.add(new EventLog.Write.Events(List.of(new EventLog.Event(persistenceId, i + 1, 0, "legacy", "",
                        Integer.parseInt(entry[1]), entry[2], bytes))));
            }
        }
        try (EventLog log = EventLog.acquire(testKit.system().settings().config().getConfig("loraplex-journal"))) {
            log.append(writes).join();
        }

        ActorRef<Command> entity = spawn(id);
        assertEquals("Cafe & Co", ask(entity, Info.class, GetInfo::new).displayName());
        assertEquals(new UsageReport(true, List.of(new UsageRow(490_896L, "", 1, 17), new UsageRow(490_896L, "cafe", 3, 420))),
                ask(entity, UsageReport.class, r -> new GetUsage(0, Long.MAX_VALUE, r)));
    }

    @Test
    void aUsageCheckpointThatCannotBeDeserializedIsIgnoredAndTheHistoryIsReadFromTheStart() {
        Serialization serialization = SerializationExtension.get(testKit.system());
        UsageCheckpoint valid = new UsageCheckpoint(3, List.of(new UsageCheckpoint.Row(1, "", 1_000, 1_000)));
        Serializer cbor = serialization.findSerializerFor(valid);
        // damaged bytes; and a checkpoint of a schema version this one does not know (a later one)
        Map<String, byte[]> unreadable = new LinkedHashMap<>();
        unreadable.put(UsageCheckpoint.class.getName() + "#1", new byte[] {(byte) 0xff, 0x00, 0x13, 0x37});
        unreadable.put(UsageCheckpoint.class.getName() + "#2", serialization.serialize(valid).get());
        unreadable.forEach((manifest, bytes) -> {
            Ledger tenant = new Ledger(checkpointEvery(3, Duration.ofHours(1)));
            List<UsageRow> expected = new ArrayList<>(tenant.hour(60));
            expected.addAll(tenant.hour(61));
            try (EventLog log = EventLog.acquire(testKit.system().settings().config().getConfig("loraplex-journal"))) {
                log.append(List.of(new EventLog.Write.SaveSnapshot(new EventLog.Snapshot(tenant.checkpointId().id(), 3, 0,
                        cbor.identifier(), manifest, bytes)))).join();
            }

            assertEquals(new UsageReport(true, expected), tenant.report(), manifest);
            CountingReadJournal.Read read = tenant.reads().getLast();
            assertEquals(1, read.from(), "a full read past the checkpoint " + manifest);
            assertEquals(read.to(), read.eventCount());
            // and the next checkpoint replaces it
            tenant.awaitCheckpoint(read.to());
        });
    }

    private static byte[] fixture(String file) throws IOException {
        try (InputStream in = TenantEntityEmbeddedJournalTest.class.getClassLoader()
                .getResourceAsStream(TenantFixtureGenerator.DIR + "/" + file)) {
            return in.readAllBytes();
        }
    }
}
