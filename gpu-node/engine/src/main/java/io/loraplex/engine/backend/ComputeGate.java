package io.loraplex.engine.backend;

import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/**
 * Who may use the backend now: serving steps before training. A serving step announces itself and
 * then holds the gate; training takes the gate only while no serving step holds it or waits for it,
 * and gives it back at each yield point (between layers, see {@link #yieldToServing}) where a
 * serving step waits, so a serving step waits at most for one training chunk, not a whole step.
 * While serving has work, training's share of wall time is bounded by a {@link TrainingShare}:
 * a chunk a serving step waited for is paid for by leaving the gate to serving afterwards.
 */
public final class ComputeGate {

    private final LongSupplier clock; // ns
    private TrainingBudget budget;
    private int servingWaiting;
    private boolean held;
    private boolean trainingHolds;     // the holder is training (else serving, when held)
    private boolean servingWaited;     // a serving step waited during the current training chunk
    private long chunkStart;           // ns; when the current training chunk began

    /** A gate with the default share ({@link TrainingShare#DEFAULT}) on the system clock. */
    public ComputeGate() {
        this(TrainingShare.DEFAULT, System::nanoTime);
    }

    /** A gate bounding training by {@code share}, reading time from {@code clock} (ns; a fake one in tests). */
    public ComputeGate(TrainingShare share, LongSupplier clock) {
        this.clock = clock;
        this.budget = new TrainingBudget(share, clock.getAsLong());
    }

    /** Bounds training by {@code share} from now on (the node's setting, applied once at start). */
    public synchronized void limitTraining(TrainingShare share) {
        budget = new TrainingBudget(share, clock.getAsLong());
    }

    /** The bound training runs under. */
    public synchronized TrainingShare trainingShare() {
        return budget.share();
    }

    /** Runs one serving step holding the gate; announced first, so no training chunk starts meanwhile. */
    public void serve(Runnable step) {
        synchronized (this) {
            servingWaiting++;
            if (trainingHolds) {
                servingWaited = true; // the chunk running now delays serving: it is charged to training
            }
            boolean interrupted = false;
            while (held) {
                try {
                    wait();
                } catch (InterruptedException e) {
                    interrupted = true; // a serving step is never abandoned half way; the flag is kept
                }
            }
            servingWaiting--;
            held = true;
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
        try {
            step.run();
        } finally {
            synchronized (this) {
                held = false;
                notifyAll();
            }
        }
    }

    /**
     * Takes the gate for training once no serving step holds it or waits, and training's balance
     * allows a chunk; then {@link #yieldToServing} between layers and {@link #release} at the end.
     */
    public synchronized void acquireForTraining() throws InterruptedException {
        while (true) {
            if (held || servingWaiting > 0) {
                wait();
                continue;
            }
            long owed = budget.waitNanos(clock.getAsLong());
            if (owed > 0) {
                TimeUnit.NANOSECONDS.timedWait(this, owed);
                continue;
            }
            break;
        }
        held = true;
        trainingHolds = true;
        servingWaited = false;
        chunkStart = clock.getAsLong();
    }

    /**
     * A yield point, called by training while it holds the gate: ends the current chunk and, when a
     * serving step waits or training has used up its share, gives the gate to serving and takes it
     * back once {@link #acquireForTraining} would. Returns holding the gate. It never throws: an
     * interrupt while waiting is kept as the thread's flag for the caller's next wait.
     */
    public void yieldToServing() {
        synchronized (this) {
            endChunk();
            if (servingWaiting == 0 && budget.waitNanos(clock.getAsLong()) == 0) {
                chunkStart = clock.getAsLong(); // keep the gate: nobody waits and the share allows more
                return;
            }
            held = false;
            trainingHolds = false;
            notifyAll();
            boolean interrupted = false;
            while (true) {
                try {
                    acquireForTraining();
                    break;
                } catch (InterruptedException e) {
                    interrupted = true; // the caller holds the gate on return whatever happens; it sees the flag later
                }
            }
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** Gives the gate back after {@link #acquireForTraining}. */
    public synchronized void release() {
        endChunk();
        held = false;
        trainingHolds = false;
        notifyAll();
    }

    /** Serving steps waiting for the gate now (for tests and metrics). */
    public synchronized int servingWaiting() {
        return servingWaiting;
    }

    /** Charges the training chunk ending now to the budget if a serving step waited for it. */
    private void endChunk() {
        if (trainingHolds) {
            budget.charge(chunkStart, clock.getAsLong(), servingWaited);
            servingWaited = false;
        }
    }
}
