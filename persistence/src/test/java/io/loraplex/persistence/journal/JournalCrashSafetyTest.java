package io.loraplex.persistence.journal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import io.loraplex.persistence.Journals;
import java.io.BufferedReader;
import java.util.Arrays;
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
 * An event the embedded journal acknowledged survives a SIGKILL of its JVM right after the
 * acknowledgement: a child JVM journals as fast as it can, from one writer or from many at once, is
 * killed the moment the parent has read enough acknowledgements, then again on the same directory,
 * and every acknowledged event is read back. (The H2 journal fails the repeated kills under
 * concurrent writers: {@code docs/decisions.md}.)
 */
class JournalCrashSafetyTest {

    @TempDir
    Path dataDir;

    @Test
    void anAcknowledgedEventSurvivesSigkill() throws Exception {
        crashAndCheck(1, 50, new int[1]);
    }

    @Test
    void acknowledgedEventsOfConcurrentWritersSurviveRepeatedSigkills() throws Exception {
        // many entities journaling at once is what a busy server does, and each restart goes on
        // writing to the same file: what H2 lost was written before an earlier kill
        int[] acked = new int[32];
        for (int round = 0; round < 4; round++) {
            acked = crashAndCheck(32, 1500 * (round + 1), acked);
        }
    }

    /**
     * Runs the child until {@code killAfter} acknowledgements in all (counting those of earlier runs,
     * {@code before}: each writer's last acknowledged number), kills it, and checks every entity.
     */
    private int[] crashAndCheck(int writers, int killAfter, int[] before) throws Exception {
        String java = ProcessHandle.current().info().command().orElseThrow();
        int total0 = Arrays.stream(before).sum();
        Process child = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"),
                JournalWriterMain.class.getName(), dataDir.toString(), Integer.toString(writers))
                .redirectError(dataDir.resolve("child.err").toFile())
                .start();
        int[] acked = before.clone();
        int total = total0;
        try (BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8))) {
            for (String line; total < killAfter && (line = out.readLine()) != null; ) {
                if (line.startsWith("ACK ")) {
                    String[] words = line.split(" ");
                    acked[Integer.parseInt(words[1])] = Integer.parseInt(words[2]);
                    total++;
                }
            }
            // SIGKILL on Linux: no shutdown hook, no close of the database
            child.destroyForcibly();
            assertTrue(child.waitFor(30, TimeUnit.SECONDS));
        }
        int sum = total;
        assertEquals(killAfter, sum, () -> "the child stopped early: " + readQuietly(dataDir.resolve("child.err")));
        assertEquals(137, child.exitValue());

        ActorTestKit kit = ActorTestKit.create("reader", Journals.embedded(dataDir).withFallback(ConfigFactory.load()));
        try {
            Journals.prepare(kit.system(), Duration.ofSeconds(30));
            int lost = 0;
            StringBuilder report = new StringBuilder();
            for (int w = 0; w < writers; w++) {
                String id = writers == 1 ? "crash" : "crash-" + w;
                ActorRef<Counter.Command> counter = kit.spawn(Behaviors.setup(c -> new Counter(id)));
                TestProbe<List<Integer>> probe = kit.createTestProbe();
                counter.tell(new Counter.Get(probe.ref()));
                List<Integer> recovered = probe.receiveMessage(Duration.ofSeconds(30));
                assertEquals(IntStream.rangeClosed(1, recovered.size()).boxed().toList(), recovered);
                if (recovered.size() < acked[w]) {
                    lost += acked[w] - recovered.size();
                    report.append(" ").append(id).append(": ").append(recovered.size()).append(" of ").append(acked[w]);
                }
            }
            assertEquals(0, lost, lost + " acknowledged events lost:" + report);
            return acked;
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
