package io.loraplex.engine.backend;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.function.IntConsumer;

/**
 * A small fork-join for the forward pass: {@link #run} hands task indices to a fixed set of threads
 * (the caller among them) and returns when all are done. One caller at a time.
 *
 * <p>Waiting: a decode step issues dozens of short parallel regions, and waking a parked thread
 * costs more than many of them, so a worker spins {@link #SPIN_NANOS} after a job before it parks;
 * then it parks with no timeout (an idle pool burns no CPU) until {@link #run} publishes the next
 * job. No wake-up is lost: a worker marks itself parked and then re-reads the job sequence number,
 * while {@code run} bumps the sequence number and then reads the mark (both volatile, so at least
 * one side sees the other). The caller waits for stragglers the same way: it spins
 * {@link #CALLER_SPIN_NANOS}, then parks, and the thread finishing the last task unparks it.
 */
public final class WorkerPool implements AutoCloseable {

    /** How long an idle worker spins before parking: covers the gap between back-to-back regions of a step. */
    private static final long SPIN_NANOS = 200_000;
    /** How long the caller spins for stragglers before parking: a balanced region ends within this. */
    private static final long CALLER_SPIN_NANOS = 50_000;

    private static final class Job {
        final int tasks;
        final IntConsumer body;
        final Thread caller;
        final AtomicInteger next = new AtomicInteger();
        final AtomicInteger done = new AtomicInteger();
        volatile Throwable failure;
        volatile boolean callerParked;

        Job(int tasks, IntConsumer body, Thread caller) {
            this.tasks = tasks;
            this.body = body;
            this.caller = caller;
        }
    }

    /** One worker thread and whether it is (about to be) parked, so that {@link #run} unparks only sleepers. */
    private static final class Worker {
        Thread thread;
        volatile boolean parked;
    }

    private final int threads;
    private final Worker[] workers;
    private volatile Job job;
    /** Bumped after each job is published; a worker that saw sequence {@code s} has a new job when it differs. */
    private volatile long sequence;
    private volatile boolean closed;

    public WorkerPool(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        }
        this.threads = threads;
        this.workers = new Worker[threads - 1];
        for (int i = 0; i < workers.length; i++) {
            Worker w = new Worker();
            workers[i] = w;
            w.thread = Thread.ofPlatform().daemon().name("loraplex-cpu-" + (i + 1)).unstarted(() -> workerLoop(w));
        }
        for (Worker w : workers) {
            w.thread.start();
        }
    }

    public int threads() {
        return threads;
    }

    /**
     * Runs {@code body.accept(i)} for every {@code i} in {@code [0, tasks)} and waits for all. The
     * first failure of a task is rethrown here once every task has finished. A run that starts after
     * {@link #close} is refused; one under way when another thread closes the pool still runs every
     * task exactly once (the caller takes what the departing workers leave).
     */
    public synchronized void run(int tasks, IntConsumer body) {
        if (tasks <= 0) {
            return;
        }
        if (closed) {
            throw new IllegalStateException("the worker pool is closed");
        }
        if (threads == 1 || tasks == 1) {
            for (int i = 0; i < tasks; i++) {
                body.accept(i);
            }
            return;
        }
        Job j = new Job(tasks, body, Thread.currentThread());
        job = j;
        sequence = sequence + 1; // only this (synchronized) method writes it
        for (Worker w : workers) {
            if (w.parked) {
                LockSupport.unpark(w.thread);
            }
        }
        work(j);
        awaitStragglers(j);
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

    private static void awaitStragglers(Job j) {
        long spinUntil = System.nanoTime() + CALLER_SPIN_NANOS;
        while (j.done.get() < j.tasks) {
            if (System.nanoTime() < spinUntil) {
                Thread.onSpinWait();
                continue;
            }
            j.callerParked = true;
            if (j.done.get() < j.tasks) { // re-checked after the mark: the last finisher sees one or the other
                LockSupport.park(j);
            }
        }
    }

    private static void work(Job j) {
        for (int i; (i = j.next.getAndIncrement()) < j.tasks; ) {
            try {
                j.body.accept(i);
            } catch (Throwable e) {
                if (j.failure == null) {
                    j.failure = e;
                }
            } finally {
                if (j.done.incrementAndGet() == j.tasks && j.callerParked) {
                    LockSupport.unpark(j.caller);
                }
            }
        }
    }

    private void workerLoop(Worker self) {
        long seen = sequence;
        long idleSince = System.nanoTime();
        while (!closed) {
            long s = sequence;
            if (s != seen) {
                seen = s;
                work(job); // job is written before sequence, so this is the job of s (or a later one)
                idleSince = System.nanoTime();
            } else if (System.nanoTime() - idleSince < SPIN_NANOS) {
                Thread.onSpinWait();
            } else {
                self.parked = true;
                if (sequence == seen && !closed) { // re-checked after the mark: run() sees one or the other
                    LockSupport.park(this);
                }
                self.parked = false;
            }
        }
    }

    /** Stops the workers (each finishes the task it holds); a run under way completes on its caller. */
    @Override
    public void close() {
        closed = true;
        for (Worker w : workers) {
            LockSupport.unpark(w.thread);
        }
    }
}
