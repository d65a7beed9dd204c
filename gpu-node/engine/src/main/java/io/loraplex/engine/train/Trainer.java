package io.loraplex.engine.train;

import io.loraplex.engine.backend.ComputeGate;
import io.loraplex.engine.backend.WorkerPool;
import io.loraplex.engine.model.BaseModel;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CancellationException;
import java.util.function.BooleanSupplier;

/**
 * Trains LoRA adapters on the frozen base: a deterministic (by seed) validation split, epochs of
 * shuffled batches with gradient accumulation, AdamW (decoupled weight decay) with linear warmup
 * then cosine decay, global-norm clipping, optional early stop on the validation loss. Several
 * adapters ({@link #trainAll}) train in one pass: each optimizer step of every adapter still
 * training runs as one batched forward/backward ({@link BatchTrainingModel}), each adapter keeping
 * its own schedule, gradients and AdamW state, so an adapter trains exactly as it would alone.
 * Each pass holds the {@link ComputeGate} it is given (the serving engine's, when training beside
 * serving), so it never starts while a serving step waits; between layers it calls the yield point
 * and hands the gate to waiting serving steps within the gate's training share. {@link #cancel}
 * stops it between layers.
 */
public final class Trainer {

    private static final double BETA1 = 0.9, BETA2 = 0.999, EPS = 1e-8;
    /** Sequences per forward-only pass (validation and final losses): bounds a pass's activations. */
    private static final int EVAL_BATCH = 8;

    private final BaseModel model;
    private final TrainingOptions options;
    private final ComputeGate gate;
    private final Runnable yieldPoint;
    private volatile boolean cancelled;

    /**
     * One adapter of a batched job: its recipe, its training and validation examples (already split;
     * validation may be empty) and where its progress goes.
     */
    public record Job(TrainingOptions options, List<EncodedExample> train, List<EncodedExample> val,
            ProgressListener listener, BooleanSupplier cancelled) {

        public Job {
            if (train.isEmpty()) {
                throw new IllegalArgumentException("no examples to train on");
            }
            train = List.copyOf(train);
            val = List.copyOf(val);
        }

        /** A job only the whole trainer's {@link Trainer#cancel} stops. */
        public Job(TrainingOptions options, List<EncodedExample> train, List<EncodedExample> val, ProgressListener listener) {
            this(options, train, val, listener, () -> false);
        }

        /** The split {@link Trainer#train(List, ProgressListener)} makes: a seeded shuffle, the first share held out. */
        public static Job split(TrainingOptions options, List<EncodedExample> examples, ProgressListener listener) {
            return split(options, examples, listener, () -> false);
        }

        /**
         * As {@link #split(TrainingOptions, List, ProgressListener)}, stopped alone (its adapter dropped,
         * the others training on) once {@code cancelled} says so, checked before each step.
         */
        public static Job split(TrainingOptions options, List<EncodedExample> examples, ProgressListener listener,
                BooleanSupplier cancelled) {
            if (examples.isEmpty()) {
                throw new IllegalArgumentException("no examples to train on");
            }
            List<EncodedExample> shuffled = new ArrayList<>(examples);
            shuffle(shuffled, new SplittableRandom(options.seed()));
            int nVal = Math.min(examples.size() - 1, (int) Math.round(examples.size() * options.valSplit()));
            return new Job(options, shuffled.subList(nVal, shuffled.size()), shuffled.subList(0, nVal), listener, cancelled);
        }
    }

    /** A trainer on its own (no serving to yield to). */
    public Trainer(BaseModel model, TrainingOptions options) {
        this(model, options, new ComputeGate());
    }

    /** A trainer that yields to the serving steps holding {@code gate}. */
    public Trainer(BaseModel model, TrainingOptions options, ComputeGate gate) {
        this(model, options, gate, () -> { });
    }

    /**
     * As above, calling {@code yieldPoint} between the layers of every forward and backward (a
     * node-sharing policy may block there while serving waits).
     */
    public Trainer(BaseModel model, TrainingOptions options, ComputeGate gate, Runnable yieldPoint) {
        this.model = model;
        this.options = options;
        this.gate = gate;
        this.yieldPoint = yieldPoint;
    }

    /** Stops a running {@link #train} before its next pass; it then throws CancellationException. */
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
        return trainAll(List.of(Job.split(options, examples, listener))).getFirst();
    }

    /**
     * Trains on {@code train} and evaluates on {@code val} (a validation file given apart; may be
     * empty): no split of its own.
     */
    public TrainedAdapter train(List<EncodedExample> train, List<EncodedExample> val, ProgressListener listener)
            throws InterruptedException, IOException {
        return trainAll(List.of(new Job(options, train, val, listener))).getFirst();
    }

    /** One adapter's progress through its own schedule. */
    private static final class Run {
        final int index;             // the adapter's index in the batch model
        final Job job;
        final TrainingOptions o;
        final LoraParameters lora;
        final int totalSteps, warmup;
        final List<Double> stepLosses = new ArrayList<>();
        final List<ProgressListener.Epoch> epochs = new ArrayList<>();
        int epoch = 1;
        List<EncodedExample> order;
        int next;                    // first example of the next step in order
        int step;
        long tokensRun;
        double epochLoss;
        int epochTargets;
        double baseVal;
        double bestVal = Double.POSITIVE_INFINITY;
        double[][] best;
        boolean done;
        TrainedAdapter result;

        Run(int index, Job job, LoraParameters lora) {
            this.index = index;
            this.job = job;
            this.o = job.options();
            this.lora = lora;
            int stepsPerEpoch = (job.train().size() + o.examplesPerStep() - 1) / o.examplesPerStep();
            totalSteps = stepsPerEpoch * o.epochs();
            warmup = (int) Math.ceil(o.warmupRatio() * totalSteps);
            order = epochOrder();
        }

        List<EncodedExample> epochOrder() {
            List<EncodedExample> list = new ArrayList<>(job.train());
            shuffle(list, new SplittableRandom(o.seed() * 31 + epoch));
            return list;
        }

        List<EncodedExample> nextGroup() {
            return order.subList(next, Math.min(order.size(), next + o.examplesPerStep()));
        }
    }

    /**
     * Trains every job's adapter, batching their steps into shared passes over the base, and returns
     * the adapters in the jobs' order. The trainer's own options give the threads; each job's give
     * its recipe. Each adapter's {@link TrainingStats#seconds()} runs from the job's start to that
     * adapter's end (its passes were shared). A job whose {@link Job#cancelled} turns true stops
     * before its next step and gets {@code null} in the list; the others train on.
     */
    public List<TrainedAdapter> trainAll(List<Job> jobs) throws InterruptedException, IOException {
        if (jobs.isEmpty()) {
            throw new IllegalArgumentException("no adapters to train");
        }
        long started = System.nanoTime();
        List<Run> runs = new ArrayList<>();
        List<LoraParameters> params = new ArrayList<>();
        SplittableRandom[] dropoutRandoms = new SplittableRandom[jobs.size()];
        double[] dropouts = new double[jobs.size()];
        for (int i = 0; i < jobs.size(); i++) {
            TrainingOptions o = jobs.get(i).options();
            LoraParameters lora = new LoraParameters(model.config(), o.targets(), o.rank(), o.scale(), o.seed());
            params.add(lora);
            runs.add(new Run(i, jobs.get(i), lora));
            dropoutRandoms[i] = new SplittableRandom(o.seed() ^ 0x5DEECE66DL);
            dropouts[i] = o.dropout();
        }
        try (WorkerPool pool = new WorkerPool(options.threads())) {
            BatchTrainingModel net = new BatchTrainingModel(model.config(), model.weights(), params, pool, () -> {
                yieldPoint.run();
                betweenLayers();
            });
            // B starts at zero: before the first step each network is exactly the base
            for (Run r : runs) {
                r.baseVal = meanLoss(net, r.index, r.job.val());
            }
            while (true) {
                for (Run r : runs) {
                    if (!r.done && r.job.cancelled().getAsBoolean()) {
                        r.done = true; // its result stays null: cancelled alone
                    }
                }
                if (runs.stream().allMatch(r -> r.done)) {
                    break;
                }
                long stepStart = System.nanoTime();
                List<Run> active = runs.stream().filter(r -> !r.done).toList();
                List<BatchTrainingModel.Sequence> seqs = new ArrayList<>();
                int[] targets = new int[active.size()];
                int[] tokens = new int[active.size()];
                for (int i = 0; i < active.size(); i++) {
                    Run r = active.get(i);
                    for (EncodedExample e : r.nextGroup()) {
                        targets[i] += e.targetCount();
                        tokens[i] += e.tokens().length;
                    }
                    double scale = 1.0 / Math.max(1, targets[i]);
                    for (EncodedExample e : r.nextGroup()) {
                        seqs.add(new BatchTrainingModel.Sequence(e, r.index, scale));
                    }
                    r.lora.zeroGrad();
                }
                double[] losses = gated(() -> net.forwardBackward(seqs, dropouts, dropoutRandoms));
                double seconds = (System.nanoTime() - stepStart) / 1e9;
                int seq = 0;
                for (int i = 0; i < active.size(); i++) {
                    Run r = active.get(i);
                    double loss = 0;
                    for (int k = 0; k < r.nextGroup().size(); k++) {
                        loss += losses[seq++];
                    }
                    double lr = learningRate(r.o, r.step, r.warmup, r.totalSteps);
                    adamW(r.o, r.lora, lr, r.step + 1);
                    r.step++;
                    r.tokensRun += tokens[i];
                    double mean = loss / Math.max(1, targets[i]);
                    r.stepLosses.add(mean);
                    r.epochLoss += loss;
                    r.epochTargets += targets[i];
                    r.job.listener().onStep(new ProgressListener.Step(r.epoch, r.o.epochs(), r.step, r.totalSteps, mean, lr,
                            tokens[i], seconds));
                    r.next += r.o.examplesPerStep();
                    if (r.next >= r.order.size()) {
                        endEpoch(net, r);
                    }
                    if (r.done) {
                        finish(net, r, started);
                    }
                }
            }
        }
        return runs.stream().map(r -> r.result).toList();
    }

    /** The end of one adapter's epoch: its validation loss, early stop, the next epoch's order. */
    private void endEpoch(BatchTrainingModel net, Run r) throws InterruptedException {
        double valLoss = meanLoss(net, r.index, r.job.val());
        boolean stop = r.o.earlyStop() && !r.job.val().isEmpty() && valLoss >= r.bestVal;
        if (!stop && valLoss < r.bestVal) {
            r.bestVal = valLoss;
            r.best = r.o.earlyStop() ? snapshot(r.lora) : null;
        }
        ProgressListener.Epoch report = new ProgressListener.Epoch(r.epoch, r.o.epochs(),
                r.epochLoss / Math.max(1, r.epochTargets), valLoss, stop);
        r.epochs.add(report);
        r.job.listener().onEpoch(report);
        if (stop) {
            restore(r.lora, r.best);
        }
        if (stop || r.epoch == r.o.epochs()) {
            r.done = true;
            return;
        }
        r.epoch++;
        r.order = r.epochOrder();
        r.next = 0;
        r.epochLoss = 0;
        r.epochTargets = 0;
    }

    private void finish(BatchTrainingModel net, Run r, long started) throws InterruptedException, IOException {
        List<EncodedExample> train = r.job.train();
        List<EncodedExample> val = r.job.val();
        double finalTrain = meanLoss(net, r.index, train);
        double finalVal = meanLoss(net, r.index, val);
        double seconds = (System.nanoTime() - started) / 1e9;
        TrainingStats stats = new TrainingStats(train.size(), val.size(), r.stepLosses, r.epochs, finalTrain, finalVal,
                r.baseVal, r.tokensRun, seconds, lineNumbers(train), lineNumbers(val));
        r.result = new TrainedAdapter(r.o, r.lora.toWeights(), stats, model.dir().toAbsolutePath().normalize().toString(),
                model.identity(), model.config());
    }

    /** Linear warmup reaching the full rate at step {@code warmup}, then cosine decay towards 0. */
    double learningRate(int step, int warmup, int totalSteps) {
        return learningRate(options, step, warmup, totalSteps);
    }

    private static double learningRate(TrainingOptions options, int step, int warmup, int totalSteps) {
        double lr = options.learningRate();
        if (step < warmup) {
            return lr * (step + 1) / warmup;
        }
        double progress = (double) (step - warmup) / Math.max(1, totalSteps - warmup);
        return lr * 0.5 * (1 + Math.cos(Math.PI * progress));
    }

    /** Clips the gradients to the global norm, then one AdamW step (t is 1-based). */
    private static void adamW(TrainingOptions options, LoraParameters lora, double lr, int t) {
        double norm = 0;
        for (LoraParameters.Module m : lora.all()) {
            norm += sumSquares(m.gradA) + sumSquares(m.gradB);
        }
        norm = Math.sqrt(norm);
        double clip = options.maxGradNorm() > 0 && norm > options.maxGradNorm() ? options.maxGradNorm() / (norm + 1e-6) : 1;
        double c1 = 1 - Math.pow(BETA1, t);
        double c2 = 1 - Math.pow(BETA2, t);
        for (LoraParameters.Module m : lora.all()) {
            adamW(options, m.a, m.gradA, m.m1A, m.m2A, lr, clip, c1, c2);
            adamW(options, m.b, m.gradB, m.m1B, m.m2B, lr, clip, c1, c2);
        }
    }

    private static void adamW(TrainingOptions options, double[] p, double[] g, double[] m1, double[] m2, double lr, double clip, double c1, double c2) {
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

    /** Mean loss per target token of adapter {@code adapter} over {@code examples}, NaN for none. */
    private double meanLoss(BatchTrainingModel net, int adapter, List<EncodedExample> examples) throws InterruptedException {
        if (examples.isEmpty()) {
            return Double.NaN;
        }
        double loss = 0;
        int targets = 0;
        for (int first = 0; first < examples.size(); first += EVAL_BATCH) {
            List<BatchTrainingModel.Sequence> seqs = new ArrayList<>();
            for (EncodedExample e : examples.subList(first, Math.min(examples.size(), first + EVAL_BATCH))) {
                seqs.add(new BatchTrainingModel.Sequence(e, adapter, 0));
                targets += e.targetCount();
            }
            for (double l : gated(() -> net.loss(seqs))) {
                loss += l;
            }
        }
        return loss / Math.max(1, targets);
    }

    private interface Pass {
        double[] run();
    }

    /** One forward (and backward) pass holding the gate; cancellation is checked before each. */
    private double[] gated(Pass pass) throws InterruptedException {
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

    /**
     * Between two layers of a pass, holding the gate: stops a cancelled job, and lets waiting serving
     * steps run under the gate's training share (a batched pass is several examples' work, seconds on
     * a large base; a serving step should wait at most for one layer of it). Returns holding the gate.
     */
    private void betweenLayers() {
        if (cancelled) {
            throw new CancellationException("training cancelled");
        }
        gate.yieldToServing();
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
