package io.loraplex.persistence.journal;

import com.typesafe.config.ConfigFactory;
import io.loraplex.persistence.Journals;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * The child JVM of {@link JournalCrashSafetyTest}: {@code writers} counters ({@code crash-0},
 * {@code crash-1}, ...; {@code crash} alone) each journal the numbers after the ones they hold at once
 * into the embedded journal under the data directory given, printing {@code ACK w n} once number n
 * of counter w is acknowledged, until the JVM is killed.
 */
public final class JournalWriterMain {

    private JournalWriterMain() {
    }

    public static void main(String[] args) throws Exception {
        Path dataDir = Path.of(args[0]);
        int writers = args.length > 1 ? Integer.parseInt(args[1]) : 1;
        ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "writer",
                Journals.embedded(dataDir).withFallback(ConfigFactory.load()));
        Journals.prepare(system, Duration.ofSeconds(30));
        for (int w = 0; w < writers; w++) {
            int writer = w;
            ActorRef<Counter.Command> counter = system.systemActorOf(
                    Behaviors.setup(c -> new Counter(writers == 1 ? "crash" : "crash-" + writer)), "counter-" + w, Props.empty());
            Thread.ofVirtual().start(() -> write(system, counter, writer));
        }
        new CompletableFuture<Void>().get();
    }

    private static void write(ActorSystem<Void> system, ActorRef<Counter.Command> counter, int writer) {
        int held;
        try {
            held = AskPattern.<Counter.Command, java.util.List<Integer>>ask(counter, Counter.Get::new, Duration.ofSeconds(30),
                    system.scheduler()).toCompletableFuture().get().size();
        } catch (Exception e) {
            e.printStackTrace();
            return;
        }
        for (int i = held + 1; ; i++) {
            int value = i;
            try {
                int acked = AskPattern.<Counter.Command, Integer>ask(counter, r -> new Counter.Add(value, r),
                        Duration.ofSeconds(10), system.scheduler()).toCompletableFuture().get();
                synchronized (System.out) {
                    System.out.println("ACK " + writer + " " + acked);
                    System.out.flush();
                }
            } catch (Exception e) {
                e.printStackTrace();
                return;
            }
        }
    }
}
