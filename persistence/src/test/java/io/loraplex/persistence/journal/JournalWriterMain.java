package io.loraplex.persistence.journal;

import com.typesafe.config.ConfigFactory;
import io.loraplex.persistence.Journals;
import java.nio.file.Path;
import java.time.Duration;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * The child JVM of {@link H2CrashSafetyTest}: journals 1, 2, 3, ... into the H2 journal under the
 * data directory given, printing {@code ACK n} once event n is acknowledged, until it is killed.
 */
public final class JournalWriterMain {

    private JournalWriterMain() {
    }

    public static void main(String[] args) throws Exception {
        Path dataDir = Path.of(args[0]);
        ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "writer",
                Journals.h2(dataDir).withFallback(ConfigFactory.load()));
        Journals.prepare(system, Duration.ofSeconds(30));
        ActorRef<Counter.Command> counter = system.systemActorOf(Behaviors.setup(c -> new Counter("crash")), "counter",
                org.apache.pekko.actor.typed.Props.empty());
        for (int i = 1; ; i++) {
            int value = i;
            int acked = AskPattern.<Counter.Command, Integer>ask(counter, r -> new Counter.Add(value, r), Duration.ofSeconds(10),
                    system.scheduler()).toCompletableFuture().get();
            System.out.println("ACK " + acked);
            System.out.flush();
        }
    }
}
