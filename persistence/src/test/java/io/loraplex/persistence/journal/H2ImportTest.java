package io.loraplex.persistence.journal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import io.loraplex.persistence.H2Import;
import io.loraplex.persistence.Journals;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.stream.IntStream;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A data directory of an earlier version (H2 journal) keeps everything when it moves to the embedded journal. */
class H2ImportTest {

    @TempDir
    Path dataDir;

    @Test
    void everyEventAndSnapshotOfTheH2JournalMovesOnceIntoTheEmbeddedJournal() {
        ActorTestKit before = ActorTestKit.create("h2", Journals.h2(dataDir).withFallback(ConfigFactory.load()));
        try {
            Journals.prepare(before.system(), Duration.ofSeconds(30));
            for (String id : List.of("a", "b")) {
                ActorRef<Counter.Command> counter = before.spawn(Behaviors.setup(c -> new Counter(id)));
                TestProbe<Integer> acks = before.createTestProbe();
                for (int i = 1; i <= 45; i++) { // past two snapshots (every 20)
                    counter.tell(new Counter.Add(i, acks.ref()));
                    acks.receiveMessage();
                }
            }
        } finally {
            before.shutdownTestKit();
        }

        assertEquals(90, H2Import.importIfPresent(dataDir));
        assertFalse(Files.exists(dataDir.resolve("journal.mv.db")));
        assertTrue(Files.exists(dataDir.resolve("journal.mv.db.imported")));
        assertEquals(0, H2Import.importIfPresent(dataDir), "nothing left to import");

        ActorTestKit after = ActorTestKit.create("embedded", Journals.embedded(dataDir).withFallback(ConfigFactory.load()));
        try {
            for (String id : List.of("a", "b")) {
                ActorRef<Counter.Command> counter = after.spawn(Behaviors.setup(c -> new Counter(id)));
                TestProbe<List<Integer>> state = after.createTestProbe();
                counter.tell(new Counter.Get(state.ref()));
                assertEquals(IntStream.rangeClosed(1, 45).boxed().toList(), state.receiveMessage(Duration.ofSeconds(30)));
                TestProbe<Integer> acks = after.createTestProbe();
                counter.tell(new Counter.Add(46, acks.ref()));
                assertEquals(46, acks.receiveMessage(Duration.ofSeconds(30)));
            }
        } finally {
            after.shutdownTestKit();
        }
    }
}
