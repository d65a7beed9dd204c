package io.loraplex.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Jobs queued on a node while it trains go into its next training pass together, in the order queued. */
class TrainingQueueTest {

    @Test
    void jobsQueuedWhileAPassRunsAreHandedToTheNextPassAsOneList() throws Exception {
        ExecutorService thread = Executors.newSingleThreadExecutor();
        try {
            List<List<String>> passes = new CopyOnWriteArrayList<>();
            CountDownLatch firstRunning = new CountDownLatch(1);
            CountDownLatch finishFirst = new CountDownLatch(1);
            CountDownLatch twoPasses = new CountDownLatch(2);
            TrainingQueue<String> queue = new TrainingQueue<>(thread, jobs -> {
                passes.add(jobs);
                if (passes.size() == 1) {
                    firstRunning.countDown();
                    await(finishFirst);
                }
                twoPasses.countDown();
            });
            queue.add("cafe");
            assertTrue(firstRunning.await(10, TimeUnit.SECONDS));
            queue.add("law firm");
            queue.add("bike shop");
            queue.add("library");
            finishFirst.countDown();
            assertTrue(twoPasses.await(10, TimeUnit.SECONDS));
            thread.shutdown();
            assertTrue(thread.awaitTermination(10, TimeUnit.SECONDS));
            assertEquals(List.of(List.of("cafe"), List.of("law firm", "bike shop", "library")), passes,
                    "one pass for the job that found the node idle, one for the three queued behind it");
        } finally {
            thread.shutdownNow();
        }
    }

    private static void await(CountDownLatch latch) {
        try {
            assertTrue(latch.await(10, TimeUnit.SECONDS));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
