package io.loraplex.persistence.journal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import io.loraplex.persistence.Journals;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An event the H2 journal acknowledged survives a SIGKILL of its JVM right after the
 * acknowledgement: a child JVM journals as fast as it can, is killed the moment the parent reads an
 * acknowledgement, and every acknowledged event is read back from the file.
 */
class H2CrashSafetyTest {

    static final int KILL_AFTER = 50;

    @TempDir
    Path dataDir;

    @Test
    void anAcknowledgedEventSurvivesSigkill() throws Exception {
        String java = ProcessHandle.current().info().command().orElseThrow();
        Process child = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"),
                JournalWriterMain.class.getName(), dataDir.toString())
                .redirectError(dataDir.resolve("child.err").toFile())
                .start();
        int acked = 0;
        try (BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8))) {
            for (String line; acked < KILL_AFTER && (line = out.readLine()) != null; ) {
                if (line.startsWith("ACK ")) {
                    acked = Integer.parseInt(line.substring(4));
                }
            }
            // SIGKILL on Linux: no shutdown hook, no close of the database
            child.destroyForcibly();
            assertTrue(child.waitFor(30, TimeUnit.SECONDS));
        }
        assertEquals(KILL_AFTER, acked, () -> "the child stopped early: " + readQuietly(dataDir.resolve("child.err")));
        assertEquals(137, child.exitValue());

        ActorTestKit kit = ActorTestKit.create("reader", Journals.h2(dataDir).withFallback(ConfigFactory.load()));
        try {
            Journals.prepare(kit.system(), Duration.ofSeconds(30));
            ActorRef<Counter.Command> counter = kit.spawn(Behaviors.setup(c -> new Counter("crash")));
            TestProbe<List<Integer>> probe = kit.createTestProbe();
            counter.tell(new Counter.Get(probe.ref()));
            List<Integer> recovered = probe.receiveMessage(Duration.ofSeconds(30));
            assertTrue(recovered.size() >= KILL_AFTER, "only " + recovered.size() + " of " + KILL_AFTER + " acknowledged events");
            assertEquals(IntStream.rangeClosed(1, recovered.size()).boxed().toList(), recovered);
        } finally {
            kit.shutdownTestKit();
        }
    }

    private static String readQuietly(Path file) {
        try {
            return Files.readString(file);
        } catch (java.io.IOException e) {
            return "(no " + file + ")";
        }
    }
}
