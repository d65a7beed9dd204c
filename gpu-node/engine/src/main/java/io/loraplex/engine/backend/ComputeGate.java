package io.loraplex.engine.backend;

/**
 * Who may use the backend now: serving steps before training steps. A serving step announces
 * itself and then holds the gate; a training step takes the gate only while no serving step holds
 * it or waits for it, so a training step never starts while serving waits, and a serving step waits
 * at most for the training step already running.
 */
public final class ComputeGate {

    private int servingWaiting;
    private boolean held;

    /** Runs one serving step holding the gate; announced first, so no training step starts meanwhile. */
    public void serve(Runnable step) {
        synchronized (this) {
            servingWaiting++;
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
            release();
        }
    }

    /** Takes the gate for one training step once no serving step holds it or waits; then {@link #release}. */
    public synchronized void acquireForTraining() throws InterruptedException {
        while (held || servingWaiting > 0) {
            wait();
        }
        held = true;
    }

    /** Gives the gate back after {@link #acquireForTraining}. */
    public synchronized void release() {
        held = false;
        notifyAll();
    }

    /** Serving steps waiting for the gate now (for tests and metrics). */
    public synchronized int servingWaiting() {
        return servingWaiting;
    }
}
