package io.loraplex.engine.backend;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.function.IntConsumer;

/**
 * A small fork-join for the forward pass: {@link #run} hands task indices to a fixed set of threads
 * (the caller among them) and returns when all are done. Workers spin briefly between jobs, because
 * a decode step issues dozens of short parallel regions and waking parked threads each time would
 * cost more than the work. One caller at a time.
 */
public final class WorkerPool implements AutoCloseable {

    /** How long an idle worker spins before parking. */
    private static final long SPIN_NANOS = 200_000;

    private static final class Job {
        final int tasks;
        final IntConsumer body;
        final AtomicInteger next = new AtomicInteger();
        final AtomicInteger done = new AtomicInteger();
        volatile Throwable failure;

        Job(int tasks, IntConsumer body) {
            this.tasks = tasks;
            this.body = body;
        }
    }

    private final int threads;
    private final Thread[] workers;
    private volatile Job job;
    private volatile boolean closed;

    public WorkerPool(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        }
        this.threads = threads;
        this.workers = new Thread[threads - 1];
        for (int i = 0; i < workers.length; i++) {
            workers[i] = Thread.ofPlatform().daemon().name("loraplex-cpu-" + (i + 1)).start(this::workerLoop);
        }
    }

    public int threads() {
        return threads;
    }

    /** Runs {@code body.accept(i)} for every {@code i} in {@code [0, tasks)} and waits for all. */
    public synchronized void run(int tasks, IntConsumer body) {
        if (tasks <= 0) {
            return;
        }
        if (threads == 1 || tasks == 1) {
            for (int i = 0; i < tasks; i++) {
                body.accept(i);
            }
            return;
        }
        Job j = new Job(tasks, body);
        job = j;
        for (Thread w : workers) {
            LockSupport.unpark(w);
        }
        work(j);
        while (j.done.get() < tasks) {
            Thread.onSpinWait();
        }
        Throwable failure = j.failure;
        if (failure instanceof RuntimeException re) {
            throw re;
        }
        if (failure instanceof Error e) {
            throw e;
        }
        if (failure != null) {
            throw new IllegalStateException(failure);
        }
    }

    private static void work(Job j) {
        for (int i; (i = j.next.getAndIncrement()) < j.tasks; ) {
            try {
                j.body.accept(i);
            } catch (Throwable e) {
                j.failure = e;
            } finally {
                j.done.incrementAndGet();
            }
        }
    }

    private void workerLoop() {
        Job last = null;
        long idleSince = System.nanoTime();
        while (!closed) {
            Job j = job;
            if (j != null && j != last) {
                last = j;
                work(j);
                idleSince = System.nanoTime();
            } else if (System.nanoTime() - idleSince < SPIN_NANOS) {
                Thread.onSpinWait();
            } else {
                LockSupport.parkNanos(this, 1_000_000);
            }
        }
    }

    @Override
    public void close() {
        closed = true;
        for (Thread w : workers) {
            LockSupport.unpark(w);
        }
    }
}
