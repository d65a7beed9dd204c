package io.loraplex.node;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.function.Consumer;

/**
 * Training jobs waiting for the node's training thread. Every job queued while a pass runs goes
 * into the next pass together: the node serves one base, so all of them can share one batched
 * base forward and backward (issue 22's several adapters in one pass).
 *
 * @param <J> a job
 */
final class TrainingQueue<J> {

    private final Executor thread;      // one thread: passes run one at a time
    private final Consumer<List<J>> pass;
    private final List<J> waiting = new ArrayList<>(); // guarded by itself

    /** Runs {@code pass} on {@code thread} (a single thread) with the jobs that waited for it, in the order queued. */
    TrainingQueue(Executor thread, Consumer<List<J>> pass) {
        this.thread = thread;
        this.pass = pass;
    }

    void add(J job) {
        synchronized (waiting) {
            waiting.add(job);
        }
        // one task per job: the first to run takes every job waiting, the later ones find none
        thread.execute(this::drain);
    }

    private void drain() {
        List<J> jobs;
        synchronized (waiting) {
            jobs = List.copyOf(waiting);
            waiting.clear();
        }
        if (!jobs.isEmpty()) {
            pass.accept(jobs);
        }
    }
}
