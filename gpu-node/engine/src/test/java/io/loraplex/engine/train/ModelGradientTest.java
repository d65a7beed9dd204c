package io.loraplex.engine.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraplex.engine.TestModels;
import io.loraplex.engine.backend.WorkerPool;
import io.loraplex.engine.lora.TargetModule;
import io.loraplex.engine.model.BaseModel;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.ModelConfig;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The whole model's LoRA gradients against central finite differences of its float64 loss, on
 * every adapted projection of small Llama (GQA, llama3 RoPE scaling), Qwen2 (q/k/v bias, tied
 * embeddings) and Mistral (sliding window) models; and the float32 path against the float64 one.
 */
class ModelGradientTest {

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

    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void loraGradientsMatchFiniteDifferences(String name, ModelConfig cfg) throws Exception {
        try (BaseModel model = BaseModel.load(TestModels.write(dir.resolve(name), cfg, 7)); WorkerPool pool = new WorkerPool(2)) {
            LoraParameters lora = new LoraParameters(cfg, EnumSet.allOf(TargetModule.class), 2, 1.5, 3);
            SplittableRandom random = new SplittableRandom(4);
            for (LoraParameters.Module m : lora.all()) {
                for (int i = 0; i < m.b.length; i++) {
                    m.b[i] = random.nextDouble(-0.5, 0.5); // B non-zero, so A's gradients are too
                }
            }
            int[] tokens = TestModels.tokens(9, cfg.vocabSize(), 5);
            boolean[] target = {false, false, false, false, true, true, false, true, true};
            EncodedExample ex = new EncodedExample(1, tokens, target);
            TrainingModel f64 = new TrainingModel(cfg, model.weights(), lora, new FrozenLinear(pool, FrozenLinear.Precision.F64));
            lora.zeroGrad();
            f64.forwardBackward(ex, 1.0, 0, null);

            double h = 1e-5;
            double worst = 0;
            int checked = 0;
            for (LoraParameters.Module m : lora.all()) {
                for (double[][] pair : new double[][][] {{m.a, m.gradA}, {m.b, m.gradB}}) {
                    double[] p = pair[0];
                    double[] g = pair[1];
                    for (int k = 0; k < 3; k++) {
                        int i = random.nextInt(p.length);
                        double keep = p[i];
                        p[i] = keep + h;
                        double up = f64.loss(ex);
                        p[i] = keep - h;
                        double down = f64.loss(ex);
                        p[i] = keep;
                        double numeric = (up - down) / (2 * h);
                        worst = Math.max(worst, Math.abs(numeric - g[i]) / (1e-7 + Math.abs(numeric) + Math.abs(g[i])));
                        checked += g[i] != 0 ? 1 : 0;
                    }
                }
            }
            assertTrue(worst < 1e-5, name + ": worst relative error " + worst);
            assertTrue(checked > lora.all().size() * 4, name + ": too few non-zero gradients checked: " + checked);

            // the float32 projections give the same gradients to float32 precision
            double[][] reference = new double[lora.all().size()][];
            for (int i = 0; i < reference.length; i++) {
                reference[i] = lora.all().get(i).gradA.clone();
            }
            TrainingModel f32 = new TrainingModel(cfg, model.weights(), lora, new FrozenLinear(pool, FrozenLinear.Precision.F32));
            lora.zeroGrad();
            f32.forwardBackward(ex, 1.0, 0, null);
            for (int i = 0; i < reference.length; i++) {
                double[] g = lora.all().get(i).gradA;
                for (int j = 0; j < g.length; j++) {
                    assertEquals(reference[i][j], g[j], 1e-3 * (1e-3 + Math.abs(reference[i][j])) + 1e-6, name + " module " + i);
                }
            }
        }
    }
}
