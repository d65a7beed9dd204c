package io.loraplex.engine.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.loraplex.engine.lora.TargetModule;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/**
 * How to train one adapter. The defaults are the seed article's recipe: rank 16, alpha 32, dropout
 * 0.05 on q/k/v/o, 3 epochs of batches of 2 with 2 accumulated, AdamW at 2e-4 with warmup then
 * cosine decay, a tenth held out for validation.
 *
 * @param targets     the adapted projections
 * @param allLinear   the targets were given as {@code all-linear} (recorded as given)
 * @param warmupRatio share of the optimizer steps spent warming the learning rate up
 * @param maxGradNorm gradients are clipped to this global norm (0: no clipping)
 * @param earlyStop   stop when an epoch's validation loss is worse than the best so far, keeping the best
 * @param threads     CPU threads of the training step
 */
public record TrainingOptions(int rank, double alpha, double dropout, Set<TargetModule> targets, boolean allLinear,
        int epochs, int batchSize, int gradAccum, double learningRate, double weightDecay, double warmupRatio,
        double maxGradNorm, boolean rslora, double valSplit, boolean earlyStop, long seed, int threads) {

    public static final Set<TargetModule> DEFAULT_TARGETS =
            EnumSet.of(TargetModule.Q_PROJ, TargetModule.K_PROJ, TargetModule.V_PROJ, TargetModule.O_PROJ);

    public TrainingOptions {
        targets = Set.copyOf(targets);
        require(rank >= 1, "rank must be at least 1, got " + rank);
        require(alpha > 0, "alpha must be > 0, got " + alpha);
        require(dropout >= 0 && dropout < 1, "dropout must be in [0, 1), got " + dropout);
        require(!targets.isEmpty(), "targets must name at least one module");
        require(epochs >= 1, "epochs must be at least 1, got " + epochs);
        require(batchSize >= 1, "batch size must be at least 1, got " + batchSize);
        require(gradAccum >= 1, "grad accumulation must be at least 1, got " + gradAccum);
        require(learningRate > 0 && Double.isFinite(learningRate), "learning rate must be > 0, got " + learningRate);
        require(weightDecay >= 0, "weight decay must be >= 0, got " + weightDecay);
        require(warmupRatio >= 0 && warmupRatio < 1, "warmup ratio must be in [0, 1), got " + warmupRatio);
        require(maxGradNorm >= 0, "max grad norm must be >= 0, got " + maxGradNorm);
        require(valSplit >= 0 && valSplit < 1, "validation split must be in [0, 1), got " + valSplit);
        require(threads >= 1, "threads must be at least 1, got " + threads);
    }

    /** The recipe's defaults with the given seed. */
    public static TrainingOptions defaults(long seed) {
        return new TrainingOptions(16, 32, 0.05, DEFAULT_TARGETS, false, 3, 2, 2, 2e-4, 0.0, 0.03, 1.0, false, 0.1, false,
                seed, 2);
    }

    /** LoRA's scale: alpha/r, or alpha/√r with rsLoRA. */
    public double scale() {
        return rslora ? alpha / Math.sqrt(rank) : alpha / rank;
    }

    /** Examples per optimizer step. */
    public int examplesPerStep() {
        return batchSize * gradAccum;
    }

    /** The target modules' short names in the order of the layer ({@code q_proj}, ...). */
    public List<String> targetNames() {
        return EnumSet.copyOf(targets).stream().map(TargetModule::shortName).toList();
    }

    public TrainingOptions withEpochs(int v) {
        return new TrainingOptions(rank, alpha, dropout, targets, allLinear, v, batchSize, gradAccum, learningRate, weightDecay,
                warmupRatio, maxGradNorm, rslora, valSplit, earlyStop, seed, threads);
    }

    public TrainingOptions withLearningRate(double v) {
        return new TrainingOptions(rank, alpha, dropout, targets, allLinear, epochs, batchSize, gradAccum, v, weightDecay,
                warmupRatio, maxGradNorm, rslora, valSplit, earlyStop, seed, threads);
    }

    /** The options as training.json records them. */
    public ObjectNode toJson() {
        ObjectNode o = new ObjectMapper().createObjectNode();
        o.put("rank", rank);
        o.put("alpha", alpha);
        o.put("dropout", dropout);
        if (allLinear) {
            o.put("targets", "all-linear");
        } else {
            o.put("targets", String.join(",", targetNames()));
        }
        o.put("epochs", epochs);
        o.put("batch_size", batchSize);
        o.put("grad_accum", gradAccum);
        o.put("learning_rate", learningRate);
        o.put("weight_decay", weightDecay);
        o.put("warmup_ratio", warmupRatio);
        o.put("max_grad_norm", maxGradNorm);
        o.put("rslora", rslora);
        o.put("val_split", valSplit);
        o.put("early_stop", earlyStop);
        o.put("seed", seed);
        o.put("threads", threads);
        return o;
    }

    private static void require(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException(message);
        }
    }
}
