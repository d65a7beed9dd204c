package io.loraplex.persistence.journal;

import com.typesafe.config.Config;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;
import org.apache.pekko.persistence.AtomicWrite;
import org.apache.pekko.persistence.PersistentRepr;
import org.apache.pekko.persistence.journal.Tagged;
import org.apache.pekko.persistence.journal.japi.AsyncWriteJournal;
import org.apache.pekko.serialization.Serialization;
import org.apache.pekko.serialization.SerializationExtension;
import org.apache.pekko.serialization.Serializer;
import org.apache.pekko.serialization.Serializers;
import scala.concurrent.Future;
import scala.jdk.javaapi.CollectionConverters;
import scala.jdk.javaapi.FutureConverters;

/**
 * The embedded journal as a Pekko Persistence journal plugin: events go to the {@link EventLog} of
 * {@code dir}, serialized by the actor system's serializers (Jackson CBOR for loraplex's events).
 * A write is acknowledged once the log has it on disk (see {@link EventLog} for what that means).
 *
 * <pre>
 * loraplex-journal { class = "io.loraplex.persistence.journal.EventLogJournal", dir = "data/journal", fsync = on }
 * </pre>
 */
public final class EventLogJournal extends AsyncWriteJournal {

    private final EventLog log;
    private final Serialization serialization;

    public EventLogJournal(Config config) {
        this.log = EventLog.acquire(config);
        this.serialization = SerializationExtension.get(context().system());
    }

    @Override
    public void postStop() {
        log.close();
    }

    @Override
    public Future<Iterable<Optional<Exception>>> doAsyncWriteMessages(Iterable<AtomicWrite> messages) {
        List<Optional<Exception>> results = new ArrayList<>();
        List<EventLog.Write> writes = new ArrayList<>();
        for (AtomicWrite atomic : messages) {
            try {
                List<EventLog.Event> events = new ArrayList<>();
                for (PersistentRepr repr : CollectionConverters.asJava(atomic.payload())) {
                    events.add(event(repr));
                }
                writes.add(new EventLog.Write.Events(events));
                results.add(Optional.empty());
            } catch (Exception e) {
                // this atomic write is rejected (not stored); the others go on
                results.add(Optional.of(e));
            }
        }
        if (writes.isEmpty()) {
            return Future.successful(results);
        }
        return FutureConverters.asScala(log.append(writes).thenApply(done -> results));
    }

    private EventLog.Event event(PersistentRepr repr) {
        Object payload = repr.payload() instanceof Tagged tagged ? tagged.payload() : repr.payload();
        Serializer serializer = serialization.findSerializerFor(payload);
        return new EventLog.Event(repr.persistenceId(), repr.sequenceNr(), repr.timestamp(), repr.writerUuid(), repr.manifest(),
                serializer.identifier(), Serializers.manifestFor(serializer, payload), serializer.toBinary(payload));
    }

    @Override
    public Future<Void> doAsyncDeleteMessagesTo(String persistenceId, long toSequenceNr) {
        return FutureConverters.asScala(log.append(List.of(new EventLog.Write.DeleteEventsTo(persistenceId, toSequenceNr))));
    }

    @Override
    public Future<Void> doAsyncReplayMessages(String persistenceId, long fromSequenceNr, long toSequenceNr, long max,
                                              Consumer<PersistentRepr> replayCallback) {
        return FutureConverters.asScala(CompletableFuture.runAsync(() -> log.replay(persistenceId, fromSequenceNr, toSequenceNr, max,
                e -> replayCallback.accept(repr(e))), log.readers()));
    }

    private PersistentRepr repr(EventLog.Event e) {
        Object payload = serialization.deserialize(e.payload(), e.serializerId(), e.serializerManifest()).get();
        return PersistentRepr.apply(payload, e.sequenceNr(), e.persistenceId(), e.manifest(), false, null, e.writerUuid())
                .withTimestamp(e.timestamp());
    }

    @Override
    public Future<Long> doAsyncReadHighestSequenceNr(String persistenceId, long fromSequenceNr) {
        return Future.successful(log.highestSequenceNr(persistenceId));
    }
}
