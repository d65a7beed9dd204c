package io.loraplex.engine.train;

import java.util.List;

/**
 * The record of one training run.
 *
 * @param stepLosses  (steps) mean loss per target token of each optimizer step
 * @param finalTrainLoss mean loss per target token of the training examples with the final weights, no dropout
 * @param finalValLoss   the same over the validation examples, NaN without any
 * @param baseValLoss    the base model's (no adapter) loss over the validation examples, NaN without any
 * @param tokens      tokens run through forward and backward
 * @param trainLines  dataset lines of the training examples; {@code valLines} those held out
 */
public record TrainingStats(int trainExamples, int valExamples, List<Double> stepLosses, List<ProgressListener.Epoch> epochs,
        double finalTrainLoss, double finalValLoss, double baseValLoss, long tokens, double seconds, List<Integer> trainLines,
        List<Integer> valLines) {

    public TrainingStats {
        stepLosses = List.copyOf(stepLosses);
        epochs = List.copyOf(epochs);
        trainLines = List.copyOf(trainLines);
        valLines = List.copyOf(valLines);
    }

    /** Training tokens per second (forward and backward). */
    public double tokensPerSecond() {
        return tokens / Math.max(1e-9, seconds);
    }
}
