package io.loraplex.engine.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.loraplex.engine.IdleThreads;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.Test;

/** The worker pool runs every task exactly once, passes failures on, and parks when idle. */
class WorkerPoolTest {

    @Test
    void everyTaskOfManyBackToBackRunsRunsExactlyOnce() {
        SplittableRandom random = new SplittableRandom(7);
        try (WorkerPool pool = new WorkerPool(3)) {
            for (int run = 0; run < 3000; run++) {
                int tasks = 1 + random.nextInt(40);
                AtomicIntegerArray counts = new AtomicIntegerArray(tasks);
                pool.run(tasks, counts::incrementAndGet);
                for (int i = 0; i < tasks; i++) {
                    assertEquals(1, counts.get(i), "run " + run + " task " + i + " of " + tasks);
                }
                if (run % 100 == 0) {
                    // a gap longer than the spin, so the next run must wake parked workers
                    LockSupport.parkNanos(2_000_000);
                }
            }
        }
    }

    @Test
    void aRunWaitsForTheSlowestTaskEvenAfterTheCallerHasParked() {
        try (WorkerPool pool = new WorkerPool(2)) {
            AtomicIntegerArray counts = new AtomicIntegerArray(2);
            pool.run(2, i -> {
                if (i == 1) {
                    LockSupport.parkNanos(20_000_000); // far beyond the caller's spin
                }
                counts.incrementAndGet(i);
            });
            assertEquals(1, counts.get(0));
            assertEquals(1, counts.get(1));
        }
    }

    @Test
    void aTaskFailureReachesTheCallerAfterEveryOtherTaskHasRun() {
        try (WorkerPool pool = new WorkerPool(3)) {
            AtomicIntegerArray counts = new AtomicIntegerArray(16);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> pool.run(16, i -> {
                counts.incrementAndGet(i);
                if (i == 5) {
                    throw new IllegalArgumentException("task 5 failed");
                }
            }));
            assertEquals("task 5 failed", e.getMessage());
            for (int i = 0; i < 16; i++) {
                assertEquals(1, counts.get(i), "task " + i);
            }
            AssertionError error = assertThrows(AssertionError.class, () -> pool.run(4, i -> {
                throw new AssertionError("an error in task " + i);
            }));
            assertTrue(error.getMessage().startsWith("an error in task "), error.getMessage());
            AtomicInteger after = new AtomicInteger();
            pool.run(8, i -> after.incrementAndGet());
            assertEquals(8, after.get(), "the pool still runs jobs after failures");
        }
    }

    @Test
    void closingWhileRunsAreUnderwayLeavesNoTaskRunTwiceOrSkipped() throws Exception {
        for (int attempt = 0; attempt < 20; attempt++) {
            WorkerPool pool = new WorkerPool(3);
            CountDownLatch started = new CountDownLatch(1);
            List<Throwable> problems = new ArrayList<>();
            AtomicInteger refused = new AtomicInteger();
            Thread caller = Thread.ofPlatform().start(() -> {
                for (int run = 0; run < 2000; run++) {
                    AtomicIntegerArray counts = new AtomicIntegerArray(12);
                    try {
                        pool.run(12, i -> {
                            counts.incrementAndGet(i);
                            started.countDown();
                        });
                    } catch (IllegalStateException e) {
                        if (!"the worker pool is closed".equals(e.getMessage())) {
                            problems.add(e);
                        }
                        for (int i = 0; i < 12; i++) {
                            if (counts.get(i) != 0) {
                                problems.add(new AssertionError("a refused run ran task " + i));
                            }
                        }
                        refused.incrementAndGet();
                        continue;
                    }
                    for (int i = 0; i < 12; i++) {
                        if (counts.get(i) != 1) {
                            problems.add(new AssertionError("run " + run + " ran task " + i + " " + counts.get(i) + " times"));
                        }
                    }
                }
            });
            started.await();
            pool.close();
            caller.join();
            if (!problems.isEmpty()) {
                fail(problems.getFirst());
            }
            assertTrue(refused.get() >= 0);
        }
    }

    @Test
    void aRunAfterCloseIsRefused() {
        WorkerPool pool = new WorkerPool(2);
        pool.close();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> pool.run(4, i -> { }));
        assertEquals("the worker pool is closed", e.getMessage());
    }

    @Test
    void anIdlePoolParksItsWorkersWithoutATimeoutAndUsesNoCpu() throws Exception {
        Set<Long> before = IdleThreads.ids();
        try (WorkerPool pool = new WorkerPool(3)) {
            pool.run(64, i -> Math.sqrt(i));
            IdleThreads workers = IdleThreads.startedSince(before, "loraplex-cpu-");
            assertEquals(2, workers.threads().size(), "the pool's two workers");
            workers.assertIdle(false);
        }
    }
}
