package io.loraplex.engine.train;

/** Hears a training run's progress: after each optimizer step and after each epoch. */
public interface ProgressListener {

    /** Nothing to report to. */
    ProgressListener NONE = new ProgressListener() {
    };

    /**
     * One optimizer step done.
     *
     * @param step   1-based, of {@code steps}
     * @param loss   mean loss per target token of the step's examples
     * @param tokens tokens run (forward and backward) in the step
     */
    record Step(int epoch, int epochs, int step, int steps, double loss, double learningRate, int tokens, double seconds) {
    }

    /**
     * One epoch done.
     *
     * @param trainLoss mean loss per target token over the epoch's steps
     * @param valLoss   mean loss per target token of the validation examples, NaN without any
     */
    record Epoch(int epoch, int epochs, double trainLoss, double valLoss, boolean stoppedEarly) {
    }

    default void onStep(Step step) {
    }

    default void onEpoch(Epoch epoch) {
    }
}
