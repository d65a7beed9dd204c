package io.loraplex.engine.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * Training shares the node by a stated policy: it yields at its yield points to waiting serving
 * steps, and while serving has work it holds the gate for at most its share of wall time. Time is a
 * fake clock or simulated steps; nothing here asserts how long anything took.
 */
class ComputeGateShareTest {

    private static final long MS = 1_000_000L;

    @Test
    void aServingStepWaitingAtAYieldPointGetsTheGateBeforeTheNextTrainingChunk() throws Exception {
        AtomicLong now = new AtomicLong();
        ComputeGate gate = new ComputeGate(new TrainingShare(1.0, Duration.ofSeconds(1)), now::get);
        List<String> order = new CopyOnWriteArrayList<>();
        gate.acquireForTraining();
        order.add("training chunk 1");
        Thread serving = Thread.ofPlatform().start(() -> gate.serve(() -> order.add("serving step")));
        awaitServingWaiting(gate, 1);
        now.addAndGet(5 * MS);
        gate.yieldToServing(); // between two layers
        order.add("training chunk 2");
        gate.release();
        serving.join();
        assertEquals(List.of("training chunk 1", "serving step", "training chunk 2"), order);
        assertEquals(0, gate.servingWaiting());
    }

    @Test
    void aYieldPointWithNoServingWaitingKeepsTheGateAndCostsNothing() throws Exception {
        AtomicLong now = new AtomicLong();
        ComputeGate gate = new ComputeGate(new TrainingShare(0.25, Duration.ofMillis(100)), now::get);
        gate.acquireForTraining();
        for (int layer = 0; layer < 100; layer++) {
            now.addAndGet(10 * MS); // a whole second of chunks, far past the 25 ms reserve: no serving waited
            gate.yieldToServing();
        }
        gate.release();
        gate.acquireForTraining(); // not held back: with serving idle, training runs flat out
        gate.release();
    }

    @Test
    void aChunkThatMadeServingWaitIsPaidForBeforeTrainingTakesTheGateAgain() throws Exception {
        AtomicLong now = new AtomicLong();
        ComputeGate gate = new ComputeGate(new TrainingShare(0.25, Duration.ofMillis(4)), now::get);
        gate.acquireForTraining();
        Thread serving = Thread.ofPlatform().start(() -> gate.serve(() -> { }));
        awaitServingWaiting(gate, 1);
        now.addAndGet(4 * MS); // a 4 ms chunk that a serving step waited for
        CountDownLatch trainingBack = new CountDownLatch(1);
        Thread training = Thread.ofPlatform().start(() -> {
            gate.yieldToServing();
            trainingBack.countDown();
            gate.release();
        });
        serving.join(); // serving ran first
        // owed: the 4 ms chunk less what it earned (a quarter, 1 ms) and the 1 ms reserve: 2 ms, earned at a quarter of
        // wall time, so 8 ms
        assertFalse(trainingBack.await(50, TimeUnit.MILLISECONDS), "training took the gate back before paying for its chunk");
        now.addAndGet(7 * MS);
        assertFalse(trainingBack.await(50, TimeUnit.MILLISECONDS), "training took the gate back 1 ms early");
        now.addAndGet(1 * MS);
        assertTrue(trainingBack.await(10, TimeUnit.SECONDS), "training never got the gate back");
        training.join();
    }

    @Test
    void whileServingAlwaysHasWorkTrainingHoldsItsShareOfWallTimeAndNoMore() {
        // simulated: serving steps of 10 ms always queued; training chunks of 40 ms (one layer); 100 s in all
        TrainingShare share = new TrainingShare(0.25, Duration.ofSeconds(1));
        long step = 10 * MS;
        long chunk = 40 * MS;
        long end = 100_000 * MS;
        TrainingBudget budget = new TrainingBudget(share, 0);
        long now = 0;
        long training = 0;
        long chunks = 0;
        while (now < end) {
            if (budget.waitNanos(now) == 0) {
                budget.charge(now, now + chunk, true); // serving was waiting: every chunk is charged
                now += chunk;
                training += chunk;
                chunks++;
            } else {
                now += step;
            }
        }
        double bound = share.share() * now + share.reserveNanos() + chunk;
        assertTrue(training <= bound, "training held " + training / MS + " ms of " + now / MS + " ms, above its bound of "
                + (long) (bound / MS) + " ms");
        assertTrue(training >= 0.9 * share.share() * now, "training starved: " + training / MS + " ms of " + now / MS
                + " ms in " + chunks + " chunks");
    }

    @Test
    void withServingIdleTrainingIsNeverHeldBack() {
        TrainingBudget budget = new TrainingBudget(new TrainingShare(0.1, Duration.ofSeconds(1)), 0);
        long now = 0;
        for (int i = 0; i < 1000; i++) {
            assertEquals(0, budget.waitNanos(now), "chunk " + i + " was held back with no serving step waiting");
            budget.charge(now, now + 50 * MS, false);
            now += 50 * MS;
        }
    }

    @Test
    void aShareOfOneNeverHoldsTrainingBack() {
        TrainingBudget budget = new TrainingBudget(new TrainingShare(1.0, Duration.ofMillis(1)), 0);
        long now = 0;
        for (int i = 0; i < 100; i++) {
            budget.charge(now, now + 30 * MS, true);
            now += 30 * MS;
            assertEquals(0, budget.waitNanos(now));
        }
    }

    @Test
    void aShareOutsideZeroToOneIsRefusedNamingTheSetting() {
        IllegalArgumentException zero = assertThrows(IllegalArgumentException.class,
                () -> new TrainingShare(0, Duration.ofSeconds(1)));
        assertEquals("training-share must be in (0, 1], got 0.0", zero.getMessage());
        IllegalArgumentException above = assertThrows(IllegalArgumentException.class,
                () -> new TrainingShare(1.5, Duration.ofSeconds(1)));
        assertEquals("training-share must be in (0, 1], got 1.5", above.getMessage());
        IllegalArgumentException window = assertThrows(IllegalArgumentException.class,
                () -> new TrainingShare(0.25, Duration.ZERO));
        assertEquals("training-share-window must be positive, got PT0S", window.getMessage());
    }

    /** Waits (for a state, not a time) until {@code n} serving steps wait for the gate. */
    private static void awaitServingWaiting(ComputeGate gate, int n) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (gate.servingWaiting() < n && System.nanoTime() < deadline) {
            Thread.sleep(1);
        }
        assertEquals(n, gate.servingWaiting(), "serving steps waiting for the gate");
    }
}
