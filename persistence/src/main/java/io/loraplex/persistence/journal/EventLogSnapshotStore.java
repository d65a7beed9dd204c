package io.loraplex.persistence.journal;

import com.typesafe.config.Config;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import org.apache.pekko.persistence.SelectedSnapshot;
import org.apache.pekko.persistence.SnapshotMetadata;
import org.apache.pekko.persistence.SnapshotSelectionCriteria;
import org.apache.pekko.persistence.snapshot.japi.SnapshotStore;
import org.apache.pekko.serialization.Serialization;
import org.apache.pekko.serialization.SerializationExtension;
import org.apache.pekko.serialization.Serializer;
import org.apache.pekko.serialization.Serializers;
import scala.concurrent.Future;
import scala.jdk.javaapi.FutureConverters;

/** The embedded journal's snapshot store: snapshots are frames of the same {@link EventLog} as the events. */
public final class EventLogSnapshotStore extends SnapshotStore {

    private final EventLog log;
    private final Serialization serialization;

    public EventLogSnapshotStore(Config config) {
        this.log = EventLog.acquire(config);
        this.serialization = SerializationExtension.get(context().system());
    }

    @Override
    public void postStop() {
        log.close();
    }

    @Override
    public Future<Optional<SelectedSnapshot>> doLoadAsync(String persistenceId, SnapshotSelectionCriteria criteria) {
        return FutureConverters.asScala(CompletableFuture.supplyAsync(() -> log.latestSnapshot(persistenceId, range(criteria))
                .map(s -> SelectedSnapshot.create(new SnapshotMetadata(s.persistenceId(), s.sequenceNr(), s.timestamp()),
                        serialization.deserialize(s.payload(), s.serializerId(), s.serializerManifest()).get())), log.readers()));
    }

    @Override
    public Future<Void> doSaveAsync(SnapshotMetadata metadata, Object snapshot) {
        Serializer serializer = serialization.findSerializerFor(snapshot);
        EventLog.Snapshot s = new EventLog.Snapshot(metadata.persistenceId(), metadata.sequenceNr(), metadata.timestamp(),
                serializer.identifier(), Serializers.manifestFor(serializer, snapshot), serializer.toBinary(snapshot));
        return FutureConverters.asScala(log.append(List.of(new EventLog.Write.SaveSnapshot(s))));
    }

    @Override
    public Future<Void> doDeleteAsync(SnapshotMetadata metadata) {
        long ts = metadata.timestamp();
        EventLog.SnapshotRange one = new EventLog.SnapshotRange(metadata.sequenceNr(), metadata.sequenceNr(),
                ts == 0 ? 0 : ts, ts == 0 ? Long.MAX_VALUE : ts);
        return FutureConverters.asScala(log.append(List.of(new EventLog.Write.DeleteSnapshots(metadata.persistenceId(), one))));
    }

    @Override
    public Future<Void> doDeleteAsync(String persistenceId, SnapshotSelectionCriteria criteria) {
        return FutureConverters.asScala(log.append(List.of(new EventLog.Write.DeleteSnapshots(persistenceId, range(criteria)))));
    }

    private static EventLog.SnapshotRange range(SnapshotSelectionCriteria c) {
        return new EventLog.SnapshotRange(c.minSequenceNr(), c.maxSequenceNr(), c.minTimestamp(), c.maxTimestamp());
    }
}
