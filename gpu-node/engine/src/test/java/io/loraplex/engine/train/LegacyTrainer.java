package io.loraplex.engine.train;

import io.loraplex.engine.backend.ComputeGate;
import io.loraplex.engine.backend.WorkerPool;
import io.loraplex.engine.model.BaseModel;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CancellationException;

/**
 * The trainer as it was before issue 22, kept in test scope for {@link TrainSpeedBench}'s old-vs-new
 * figures: one example per pass through the float64 {@link TrainingModel}. Otherwise unchanged.
 *
 * <p>Trains one LoRA adapter on the frozen base: a deterministic (by seed) validation split, epochs of
 * shuffled batches with gradient accumulation, AdamW (decoupled weight decay) with linear warmup
 * then cosine decay, global-norm clipping, optional early stop on the validation loss. Each
 * forward/backward holds the {@link ComputeGate} it is given (the serving engine's, when training
 * beside serving), so it never starts while a serving step waits. {@link #cancel} stops it between
 * examples.
 */
final class LegacyTrainer {

    private static final double BETA1 = 0.9, BETA2 = 0.999, EPS = 1e-8;

    private final BaseModel model;
    private final TrainingOptions options;
    private final ComputeGate gate;
    private final FrozenLinear.Precision precision;
    private volatile boolean cancelled;

    /** A trainer on its own (no serving to yield to). */
    LegacyTrainer(BaseModel model, TrainingOptions options) {
        this(model, options, new ComputeGate());
    }

    /** A trainer that yields to the serving steps holding {@code gate}. */
    LegacyTrainer(BaseModel model, TrainingOptions options, ComputeGate gate) {
        this(model, options, gate, FrozenLinear.Precision.F32);
    }

    LegacyTrainer(BaseModel model, TrainingOptions options, ComputeGate gate, FrozenLinear.Precision precision) {
        this.model = model;
        this.options = options;
        this.gate = gate;
        this.precision = precision;
    }

    /** Stops a running {@link #train} before its next example; it then throws CancellationException. */
    public void cancel() {
        cancelled = true;
    }

    /**
     * Trains on {@code examples} (from {@link Dataset#encode}) and returns the adapter and its record.
     *
     * @throws CancellationException when cancelled
     * @throws InterruptedException  when interrupted waiting for the gate
     */
    public TrainedAdapter train(List<EncodedExample> examples, ProgressListener listener)
            throws InterruptedException, IOException {
        if (examples.isEmpty()) {
            throw new IllegalArgumentException("no examples to train on");
        }
        // the split: a seeded shuffle, the first share held out, at least one example kept for training
        List<EncodedExample> shuffled = new ArrayList<>(examples);
        shuffle(shuffled, new SplittableRandom(options.seed()));
        int nVal = Math.min(examples.size() - 1, (int) Math.round(examples.size() * options.valSplit()));
        return train(List.copyOf(shuffled.subList(nVal, shuffled.size())), List.copyOf(shuffled.subList(0, nVal)), listener);
    }

    /**
     * Trains on {@code train} and evaluates on {@code val} (a validation file given apart; may be
     * empty): no split of its own.
     */
    public TrainedAdapter train(List<EncodedExample> train, List<EncodedExample> val, ProgressListener listener)
            throws InterruptedException, IOException {
        if (train.isEmpty()) {
            throw new IllegalArgumentException("no examples to train on");
        }
        int perStep = options.examplesPerStep();
        int stepsPerEpoch = (train.size() + perStep - 1) / perStep;
        int totalSteps = stepsPerEpoch * options.epochs();
        int warmup = (int) Math.ceil(options.warmupRatio() * totalSteps);
        LoraParameters lora = new LoraParameters(model.config(), options.targets(), options.rank(), options.scale(),
                options.seed());
        SplittableRandom dropoutRandom = new SplittableRandom(options.seed() ^ 0x5DEECE66DL);
        List<Double> stepLosses = new ArrayList<>();
        List<ProgressListener.Epoch> epochs = new ArrayList<>();
        long tokensRun = 0;
        long started = System.nanoTime();
        try (WorkerPool pool = new WorkerPool(options.threads())) {
            TrainingModel net = new TrainingModel(model.config(), model.weights(), lora, new FrozenLinear(pool, precision));
            // B starts at zero: before the first step the network is exactly the base
            double baseVal = meanLoss(net, val);
            double bestVal = Double.POSITIVE_INFINITY;
            double[][] best = null;
            int step = 0;
            for (int epoch = 1; epoch <= options.epochs(); epoch++) {
                List<EncodedExample> order = new ArrayList<>(train);
                shuffle(order, new SplittableRandom(options.seed() * 31 + epoch));
                double epochLoss = 0;
                int epochTargets = 0;
                for (int first = 0; first < order.size(); first += perStep) {
                    long stepStart = System.nanoTime();
                    List<EncodedExample> group = order.subList(first, Math.min(order.size(), first + perStep));
                    int targets = 0;
                    int tokens = 0;
                    for (EncodedExample e : group) {
                        targets += e.targetCount();
                        tokens += e.tokens().length;
                    }
                    lora.zeroGrad();
                    double loss = 0;
                    for (EncodedExample e : group) {
                        double scale = 1.0 / Math.max(1, targets);
                        loss += gated(() -> net.forwardBackward(e, scale, options.dropout(), dropoutRandom));
                    }
                    double lr = learningRate(step, warmup, totalSteps);
                    adamW(lora, lr, step + 1);
                    step++;
                    tokensRun += tokens;
                    double mean = loss / Math.max(1, targets);
                    stepLosses.add(mean);
                    epochLoss += loss;
                    epochTargets += targets;
                    listener.onStep(new ProgressListener.Step(epoch, options.epochs(), step, totalSteps, mean, lr, tokens,
                            (System.nanoTime() - stepStart) / 1e9));
                }
                double valLoss = meanLoss(net, val);
                boolean stop = options.earlyStop() && !val.isEmpty() && valLoss >= bestVal;
                if (!stop && valLoss < bestVal) {
                    bestVal = valLoss;
                    best = options.earlyStop() ? snapshot(lora) : null;
                }
                ProgressListener.Epoch report = new ProgressListener.Epoch(epoch, options.epochs(),
                        epochLoss / Math.max(1, epochTargets), valLoss, stop);
                epochs.add(report);
                listener.onEpoch(report);
                if (stop) {
                    restore(lora, best);
                    break;
                }
            }
            double finalTrain = meanLoss(net, train);
            double finalVal = meanLoss(net, val);
            double seconds = (System.nanoTime() - started) / 1e9;
            TrainingStats stats = new TrainingStats(train.size(), val.size(), stepLosses, epochs, finalTrain, finalVal, baseVal,
                    tokensRun, seconds, lineNumbers(train), lineNumbers(val));
            return new TrainedAdapter(options, lora.toWeights(), stats, model.dir().toAbsolutePath().normalize().toString(),
                    model.identity(), model.config());
        }
    }

    /** Linear warmup reaching the full rate at step {@code warmup}, then cosine decay towards 0. */
    double learningRate(int step, int warmup, int totalSteps) {
        double lr = options.learningRate();
        if (step < warmup) {
            return lr * (step + 1) / warmup;
        }
        double progress = (double) (step - warmup) / Math.max(1, totalSteps - warmup);
        return lr * 0.5 * (1 + Math.cos(Math.PI * progress));
    }

    /** Clips the gradients to the global norm, then one AdamW step (t is 1-based). */
    private void adamW(LoraParameters lora, double lr, int t) {
        double norm = 0;
        for (LoraParameters.Module m : lora.all()) {
            norm += sumSquares(m.gradA) + sumSquares(m.gradB);
        }
        norm = Math.sqrt(norm);
        double clip = options.maxGradNorm() > 0 && norm > options.maxGradNorm() ? options.maxGradNorm() / (norm + 1e-6) : 1;
        double c1 = 1 - Math.pow(BETA1, t);
        double c2 = 1 - Math.pow(BETA2, t);
        for (LoraParameters.Module m : lora.all()) {
            adamW(m.a, m.gradA, m.m1A, m.m2A, lr, clip, c1, c2);
            adamW(m.b, m.gradB, m.m1B, m.m2B, lr, clip, c1, c2);
        }
    }

    private void adamW(double[] p, double[] g, double[] m1, double[] m2, double lr, double clip, double c1, double c2) {
        double decay = 1 - lr * options.weightDecay();
        for (int i = 0; i < p.length; i++) {
            double grad = g[i] * clip;
            m1[i] = BETA1 * m1[i] + (1 - BETA1) * grad;
            m2[i] = BETA2 * m2[i] + (1 - BETA2) * grad * grad;
            p[i] = p[i] * decay - lr * (m1[i] / c1) / (Math.sqrt(m2[i] / c2) + EPS);
        }
    }

    private static double sumSquares(double[] v) {
        double s = 0;
        for (double x : v) {
            s += x * x;
        }
        return s;
    }

    /** Mean loss per target token over {@code examples}, NaN for none. */
    private double meanLoss(TrainingModel net, List<EncodedExample> examples) throws InterruptedException {
        if (examples.isEmpty()) {
            return Double.NaN;
        }
        double loss = 0;
        int targets = 0;
        for (EncodedExample e : examples) {
            loss += gated(() -> net.loss(e));
            targets += e.targetCount();
        }
        return loss / Math.max(1, targets);
    }

    private interface Pass {
        double run();
    }

    /** One forward (and backward) pass holding the gate; cancellation is checked before each. */
    private double gated(Pass pass) throws InterruptedException {
        if (cancelled) {
            throw new CancellationException("training cancelled");
        }
        gate.acquireForTraining();
        try {
            return pass.run();
        } finally {
            gate.release();
        }
    }

    private static double[][] snapshot(LoraParameters lora) {
        List<LoraParameters.Module> all = lora.all();
        double[][] copy = new double[2 * all.size()][];
        for (int i = 0; i < all.size(); i++) {
            copy[2 * i] = all.get(i).a.clone();
            copy[2 * i + 1] = all.get(i).b.clone();
        }
        return copy;
    }

    private static void restore(LoraParameters lora, double[][] snapshot) {
        if (snapshot == null) {
            return;
        }
        List<LoraParameters.Module> all = lora.all();
        for (int i = 0; i < all.size(); i++) {
            System.arraycopy(snapshot[2 * i], 0, all.get(i).a, 0, all.get(i).a.length);
            System.arraycopy(snapshot[2 * i + 1], 0, all.get(i).b, 0, all.get(i).b.length);
        }
    }

    private static <T> void shuffle(List<T> list, SplittableRandom random) {
        for (int i = list.size() - 1; i > 0; i--) {
            java.util.Collections.swap(list, i, random.nextInt(i + 1));
        }
    }

    private static List<Integer> lineNumbers(List<EncodedExample> examples) {
        return examples.stream().map(EncodedExample::line).toList();
    }
}
