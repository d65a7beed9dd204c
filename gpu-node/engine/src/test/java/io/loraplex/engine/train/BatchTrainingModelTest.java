package io.loraplex.engine.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraplex.engine.TestModels;
import io.loraplex.engine.backend.WorkerPool;
import io.loraplex.engine.lora.LoraWeights;
import io.loraplex.engine.lora.TargetModule;
import io.loraplex.engine.model.BaseModel;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.ModelConfig;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The float32 batched training step against the float64 reference ({@link TrainingModel} on
 * {@link FrozenLinear.Precision#F64}) on every architecture the trainer supports, and the batching
 * invariant: an adapter's training does not depend on the adapters that share its passes.
 */
class BatchTrainingModelTest {

    @TempDir
    Path dir;

    static Stream<Arguments> models() {
        return Stream.of(Arguments.of("llama", TestModels.llama(DType.F32)), Arguments.of("qwen2", TestModels.qwen2(DType.F32)),
                Arguments.of("qwen3", TestModels.qwen3(DType.F32)), Arguments.of("qwen3-untied", TestModels.qwen3Untied(DType.F32)),
                Arguments.of("mistral", TestModels.mistral(DType.F32)),
                Arguments.of("llama-biased", TestModels.llamaBiased(DType.F32)),
                Arguments.of("phi3-partial-rotary-longrope", TestModels.phi3(DType.F32)),
                Arguments.of("gemma2-softcaps-post-norms-geglu", TestModels.gemma2(DType.F32)),
                Arguments.of("gemma3-two-rope-bases-qk-norms", TestModels.gemma3(DType.F32)));
    }

    /** An adapter on every projection with B non-zero, so A's gradients are too. */
    private static LoraParameters adapter(ModelConfig cfg, Set<TargetModule> targets, int rank, long seed) {
        LoraParameters lora = new LoraParameters(cfg, targets, rank, 1.5, seed);
        SplittableRandom random = new SplittableRandom(seed + 1);
        for (LoraParameters.Module m : lora.all()) {
            for (int i = 0; i < m.b.length; i++) {
                m.b[i] = random.nextDouble(-0.5, 0.5);
            }
        }
        return lora;
    }

    private static EncodedExample example(int line, int length, int vocab, long seed) {
        int[] tokens = TestModels.tokens(length, vocab, seed);
        boolean[] target = new boolean[length];
        for (int t = length / 3; t < length; t++) {
            target[t] = t % 4 != 0;
        }
        return new EncodedExample(line, tokens, target);
    }

    /**
     * Tolerance {@code 1e-5·max|g| + 2e-4·|g|} per module (llm.c's {@code tolerance + |ref|·ε}), loss
     * within 1e-6 relative: float32 rounds each product of a row's sums at ~6e-8 relative, and the
     * forward's activation errors compound through every layer of the backward; gradients that are
     * sums of terms of both signs lose their relative precision near zero, hence the term relative to
     * the module's largest gradient. Measured (2026-12-07): the worst gradient error is under 9% of
     * this tolerance on every model, the loss within 5e-8; a sign or index error is off by ~100%.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void theFloat32StepGivesTheFloat64ReferencesLossAndGradientsWithinTolerance(String name, ModelConfig cfg) throws Exception {
        try (BaseModel model = BaseModel.load(TestModels.write(dir.resolve(name), cfg, 7)); WorkerPool pool = new WorkerPool(2)) {
            LoraParameters lora = adapter(cfg, EnumSet.allOf(TargetModule.class), 2, 3);
            List<EncodedExample> examples = List.of(example(1, 9, cfg.vocabSize(), 5), example(2, 14, cfg.vocabSize(), 6));
            TrainingModel reference = new TrainingModel(cfg, model.weights(), lora, new FrozenLinear(pool, FrozenLinear.Precision.F64));
            lora.zeroGrad();
            double[] referenceLoss = new double[examples.size()];
            for (int i = 0; i < examples.size(); i++) {
                referenceLoss[i] = reference.forwardBackward(examples.get(i), 0.5 + i, 0, null);
            }
            List<double[]> referenceGrads = grads(lora);

            BatchTrainingModel batched = new BatchTrainingModel(cfg, model.weights(), List.of(lora), pool, () -> { });
            lora.zeroGrad();
            double[] loss = batched.forwardBackward(List.of(new BatchTrainingModel.Sequence(examples.get(0), 0, 0.5),
                    new BatchTrainingModel.Sequence(examples.get(1), 0, 1.5)), new double[] {0}, new SplittableRandom[] {null});
            for (int i = 0; i < examples.size(); i++) {
                assertEquals(referenceLoss[i], loss[i], 1e-6 * Math.abs(referenceLoss[i]), name + ": loss of example " + i);
            }
            List<double[]> got = grads(lora);
            int nonZero = 0;
            for (int k = 0; k < got.size(); k++) {
                double[] ref = referenceGrads.get(k);
                double max = 0;
                for (double v : ref) {
                    max = Math.max(max, Math.abs(v));
                }
                for (int i = 0; i < ref.length; i++) {
                    assertEquals(ref[i], got.get(k)[i], 1e-5 * max + 2e-4 * Math.abs(ref[i]), name + ": gradient " + k + "[" + i + "]");
                    nonZero += ref[i] != 0 ? 1 : 0;
                }
            }
            assertTrue(nonZero > got.size() * 4, name + ": too few non-zero gradients: " + nonZero);
        }
    }

    /** The loss of a forward-only pass is the loss of the training pass. */
    @Test
    void aForwardOnlyPassGivesTheTrainingPassesLoss() throws Exception {
        ModelConfig cfg = TestModels.qwen3(DType.F32);
        try (BaseModel model = BaseModel.load(TestModels.write(dir.resolve("m"), cfg, 7)); WorkerPool pool = new WorkerPool(2)) {
            LoraParameters lora = adapter(cfg, TrainingOptions.DEFAULT_TARGETS, 4, 3);
            BatchTrainingModel net = new BatchTrainingModel(cfg, model.weights(), List.of(lora), pool, () -> { });
            List<BatchTrainingModel.Sequence> seqs = List.of(new BatchTrainingModel.Sequence(example(1, 12, cfg.vocabSize(), 8), 0, 1));
            assertArrayEquals(net.forwardBackward(seqs, new double[] {0}, new SplittableRandom[] {null}), net.loss(seqs));
        }
    }

    /** The yield point runs after every layer of the forward and of the backward, and the trainer passes its own through. */
    @Test
    void theYieldPointRunsBetweenTheLayersOfEveryForwardAndBackward() throws Exception {
        ModelConfig cfg = TestModels.llama(DType.F32);
        try (BaseModel model = BaseModel.load(TestModels.write(dir.resolve("m"), cfg, 7)); WorkerPool pool = new WorkerPool(2)) {
            LoraParameters lora = adapter(cfg, TrainingOptions.DEFAULT_TARGETS, 4, 3);
            int[] calls = {0};
            BatchTrainingModel net = new BatchTrainingModel(cfg, model.weights(), List.of(lora), pool, () -> calls[0]++);
            List<BatchTrainingModel.Sequence> seqs = List.of(new BatchTrainingModel.Sequence(example(1, 12, cfg.vocabSize(), 8), 0, 1));
            net.forwardBackward(seqs, new double[] {0}, new SplittableRandom[] {null});
            assertEquals(2 * cfg.numLayers(), calls[0], "forward and backward");
            net.loss(seqs);
            assertEquals(3 * cfg.numLayers(), calls[0], "a forward-only pass");

            int[] trainerCalls = {0};
            List<EncodedExample> examples = List.of(example(1, 10, cfg.vocabSize(), 1), example(2, 11, cfg.vocabSize(), 2));
            new Trainer(model, TrainingOptions.defaults(1).withEpochs(1), new io.loraplex.engine.backend.ComputeGate(),
                    () -> trainerCalls[0]++).train(examples, List.of(), ProgressListener.NONE);
            // one training pass (2L), the final training loss (L); no validation examples
            assertEquals(3 * cfg.numLayers(), trainerCalls[0]);
        }
    }

    /**
     * A serving step that starts waiting during a pass gets the gate at the next layer boundary, not
     * at the end of the pass: the hook announces a serving step at the first layer, and by the second
     * boundary that step has run (the trainer handed the gate over and took it back).
     */
    @Test
    void aServingStepThatWaitsDuringAPassRunsAtTheNextLayerBoundary() throws Exception {
        ModelConfig cfg = TestModels.llama(DType.F32);
        try (BaseModel model = BaseModel.load(TestModels.write(dir.resolve("m"), cfg, 7))) {
            io.loraplex.engine.backend.ComputeGate gate = new io.loraplex.engine.backend.ComputeGate();
            java.util.concurrent.atomic.AtomicBoolean served = new java.util.concurrent.atomic.AtomicBoolean();
            List<Boolean> servedAtBoundary = new ArrayList<>();
            Thread[] serving = new Thread[1];
            Runnable hook = () -> {
                servedAtBoundary.add(served.get());
                if (serving[0] == null) {
                    serving[0] = Thread.ofPlatform().start(() -> gate.serve(() -> served.set(true)));
                    while (gate.servingWaiting() == 0) {
                        Thread.onSpinWait(); // announced before it blocks: the hand-over below is certain
                    }
                }
            };
            List<EncodedExample> examples = List.of(example(1, 10, cfg.vocabSize(), 1), example(2, 11, cfg.vocabSize(), 2));
            new Trainer(model, TrainingOptions.defaults(1).withEpochs(1), gate, hook).train(examples, List.of(), ProgressListener.NONE);
            serving[0].join();
            assertEquals(false, servedAtBoundary.get(0), "nothing waited before the first boundary");
            assertEquals(true, servedAtBoundary.get(1), "the serving step ran at the first boundary after it began waiting");
        }
    }

    /** Each sequence's gradients ((module) (A ‖ B)) as doubles. */
    private static List<double[]> grads(LoraParameters lora) {
        List<double[]> out = new ArrayList<>();
        for (LoraParameters.Module m : lora.all()) {
            out.add(m.gradA.clone());
            out.add(m.gradB.clone());
        }
        return out;
    }

    /**
     * Three adapters with their own data sizes, ranks, targets and seeds trained in one job give the
     * middle one exactly what training it alone gives (dropout on: each adapter's masks come from its
     * own generator; every row is reduced in an order fixed by the row, lanes in a fixed tree). The
     * equality is exact, as the engine's CPU batch invariance is: a difference in the last bit means
     * a reduction order depends on the batch-mates (as {@code reduceLanes} did before it was replaced).
     */
    @Test
    void anAdapterTrainedAloneEqualsTheSameAdapterTrainedInABatchWithOthers() throws Exception {
        ModelConfig cfg = TestModels.llama(DType.F32);
        try (BaseModel model = BaseModel.load(TestModels.write(dir.resolve("llama"), cfg, 7))) {
            TrainingOptions base = TrainingOptions.defaults(11).withEpochs(2).withLearningRate(5e-3);
            List<EncodedExample> mine = new ArrayList<>();
            List<EncodedExample> other = new ArrayList<>();
            List<EncodedExample> third = new ArrayList<>();
            for (int i = 0; i < 9; i++) {
                mine.add(example(i + 1, 10 + i % 4, cfg.vocabSize(), 100 + i));
            }
            for (int i = 0; i < 14; i++) {
                other.add(example(i + 1, 8 + i % 5, cfg.vocabSize(), 200 + i));
            }
            for (int i = 0; i < 5; i++) {
                third.add(example(i + 1, 12, cfg.vocabSize(), 300 + i));
            }
            TrainingOptions otherOptions = TrainingOptions.defaults(12).withEpochs(3).withLearningRate(1e-3);
            TrainingOptions thirdOptions = new TrainingOptions(8, 16, 0.1, EnumSet.allOf(TargetModule.class), true, 1, 1, 2, 2e-3,
                    0.01, 0.0, 1.0, false, 0.2, false, 13, 2);
            Trainer trainer = new Trainer(model, base);
            TrainedAdapter alone = trainer.train(mine, ProgressListener.NONE);
            List<TrainedAdapter> batched = trainer.trainAll(List.of(Trainer.Job.split(otherOptions, other, ProgressListener.NONE),
                    Trainer.Job.split(base, mine, ProgressListener.NONE), Trainer.Job.split(thirdOptions, third, ProgressListener.NONE)));
            TrainedAdapter together = batched.get(1);

            assertEquals(alone.stats().stepLosses().size(), together.stats().stepLosses().size());
            for (int i = 0; i < alone.stats().stepLosses().size(); i++) {
                assertEquals(alone.stats().stepLosses().get(i), together.stats().stepLosses().get(i), 0.0, "step " + i + "'s loss");
            }
            LoraWeights[][] a = alone.weights();
            LoraWeights[][] b = together.weights();
            int compared = 0;
            for (int l = 0; l < a.length; l++) {
                for (int t = 0; t < a[l].length; t++) {
                    assertEquals(a[l][t] == null, b[l][t] == null, "layer " + l + " module " + t);
                    if (a[l][t] != null) {
                        assertClose(a[l][t].a(), b[l][t].a(), "layer " + l + " module " + t + " A");
                        assertClose(a[l][t].b(), b[l][t].b(), "layer " + l + " module " + t + " B");
                        compared++;
                    }
                }
            }
            assertEquals(cfg.numLayers() * TrainingOptions.DEFAULT_TARGETS.size(), compared);
            // the others trained too, on their own schedules
            assertEquals(otherOptions.epochs(), batched.get(0).stats().epochs().size());
            assertEquals(1, batched.get(2).stats().epochs().size());
        }
    }

    private static void assertClose(float[] expected, float[] actual, String what) {
        assertEquals(expected.length, actual.length, what);
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], actual[i], 0f, what + "[" + i + "]");
        }
    }
}
