package io.loraplex.engine.backend.cuda;

import io.loraplex.engine.backend.ForwardBatch;
import io.loraplex.engine.model.ModelConfig;
import io.loraplex.engine.model.Rope;
import io.loraplex.engine.model.RopeScaling;

/**
 * The rotary tables of one step, as {@code rope.cu} takes them.
 *
 * @param positions      (T) each token's position in its sequence
 * @param invFreq        (F, half) f64 frequency sets: one, or LongRoPE's short (row 0) and long (row 1)
 * @param freqRow        (T) row of {@code invFreq} per token, or null when F = 1 (the kernel then uses row 0)
 * @param rotaryDim      dimensions of each head that turn (2 · half); the rest pass through
 * @param attentionScale LongRoPE's cos/sin multiplier, 1 otherwise
 */
public record RopeTables(int[] positions, double[] invFreq, int[] freqRow, int rotaryDim, double attentionScale) {

    public static RopeTables of(ForwardBatch batch, ModelConfig config) {
        Rope rope = new Rope(config);
        RopeScaling s = config.ropeScaling();
        boolean longRope = s != null && s.type() == RopeScaling.Type.LONGROPE;
        int half = rope.pairs();
        int[] positions = batch.positions().clone();
        if (!longRope) {
            return new RopeTables(positions, rope.inverseFrequencies(1), null, 2 * half, rope.attentionScale());
        }
        // as the CPU does: a sequence longer than the original max in this step turns all its tokens by the long set
        int original = s.originalMaxPositions();
        double[] invFreq = new double[2 * half];
        System.arraycopy(rope.inverseFrequencies(1), 0, invFreq, 0, half);
        System.arraycopy(rope.inverseFrequencies(original + 1), 0, invFreq, half, half);
        int[] lengths = batch.sequenceLengths();
        int[] freqRow = new int[positions.length];
        for (int t = 0; t < positions.length; t++) {
            freqRow[t] = lengths[batch.sequence()[t]] > original ? 1 : 0;
        }
        return new RopeTables(positions, invFreq, freqRow, 2 * half, rope.attentionScale());
    }
}
