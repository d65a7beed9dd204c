package io.loraplex.engine.sample;

import java.util.BitSet;

/**
 * The token history of one request and the penalties computed from it, in vLLM's order:
 * repetition (HF semantics, over prompt and output), then frequency, then presence (OpenAI
 * semantics, over output only). Only the tokens seen are visited, never the whole vocabulary.
 */
final class Penalties {

    private final double repetition;       // 1 = off
    private final float frequency;         // 0 = off
    private final float presence;          // 0 = off
    private final BitSet promptOrOutput;   // (V) tokens the repetition penalty applies to; null when it is off
    private final BitSet output;           // (V) tokens generated so far; null when frequency and presence are off
    private final int[] outputCounts;      // (V) occurrences of each token in the output; null likewise

    private Penalties(SamplingParams params, int vocabSize) {
        this.repetition = params.repetitionPenalty();
        this.frequency = (float) params.frequencyPenalty();
        this.presence = (float) params.presencePenalty();
        this.promptOrOutput = repetition != 1.0 ? new BitSet(vocabSize) : null;
        boolean counts = frequency != 0f || presence != 0f;
        this.output = counts ? new BitSet(vocabSize) : null;
        this.outputCounts = counts ? new int[vocabSize] : null;
    }

    /** The penalties of these params, or null when all of them are off (nothing to remember). */
    static Penalties of(SamplingParams params, int vocabSize) {
        boolean off = params.repetitionPenalty() == 1.0
                && params.frequencyPenalty() == 0.0
                && params.presencePenalty() == 0.0;
        return off ? null : new Penalties(params, vocabSize);
    }

    /** Remembers prompt tokens, already checked to lie in the vocabulary. */
    void observePrompt(int[] promptTokens) {
        if (promptOrOutput != null) {
            for (int token : promptTokens) {
                promptOrOutput.set(token);
            }
        }
    }

    void observeOutput(int token) {
        if (promptOrOutput != null) {
            promptOrOutput.set(token);
        }
        if (output != null) {
            output.set(token);
            outputCounts[token]++;
        }
    }

    /** Applies the penalties to {@code logits[0..V)} in place. */
    void apply(float[] logits) {
        if (promptOrOutput != null) {
            for (int t = promptOrOutput.nextSetBit(0); t >= 0; t = promptOrOutput.nextSetBit(t + 1)) {
                float x = logits[t];
                double penalized = x > 0 ? x / repetition : x * repetition;
                // An extreme penalty must not turn a finite logit infinite: +Infinity would make the
                // softmax NaN, and a token the model allows should stay possible.
                logits[t] = Float.isFinite(x)
                        ? (float) Math.clamp(penalized, -Float.MAX_VALUE, Float.MAX_VALUE)
                        : x;
            }
        }
        if (output != null) {
            for (int t = output.nextSetBit(0); t >= 0; t = output.nextSetBit(t + 1)) {
                logits[t] -= frequency * outputCounts[t];
                logits[t] -= presence;
            }
        }
    }
}
