package io.loraplex.engine.backend;

import static io.loraplex.engine.LogitAsserts.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraplex.engine.LogitAsserts;
import io.loraplex.engine.TestModels;
import io.loraplex.engine.lora.AdapterLoader;
import io.loraplex.engine.lora.AdapterWriter;
import io.loraplex.engine.lora.LoraAdapter;
import io.loraplex.engine.lora.TargetModule;
import io.loraplex.engine.model.BaseModel;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.ModelConfig;
import io.loraplex.engine.model.WeightFormat;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * A model with int8 or int4 weights against the same checkpoint in f32, over {@value #PROMPTS} random
 * prompts (1–24 tokens) with and without an adapter (all seven projections, rank 8), on the CPU
 * backend. The bounds (top-1 agreement of the last position, the worst logit error as a share of that
 * prompt's largest f32 logit, and the RMS error over the RMS of the f32 logits, averaged over prompts)
 * are stated per format in the test's arguments; they hold with margin on this seed, so a kernel or
 * quantizer mistake, which moves logits by O(1), fails them.
 */
class QuantizedModelTest {

    static final int PROMPTS = 48;

    @TempDir
    static Path dir;
    static ModelConfig cfg = TestModels.llama(DType.F32);
    static BaseModel f32;
    static LoraAdapter adapter;

    @BeforeAll
    static void setUp() throws Exception {
        TestModels.write(dir.resolve("model"), cfg, 17);
        AdapterWriter.writeRandom(dir.resolve("a"), cfg, EnumSet.allOf(TargetModule.class), 8, 16, false, DType.F32, 4);
        f32 = BaseModel.load(dir.resolve("model"));
        adapter = new AdapterLoader(cfg, 64).load("a", dir.resolve("a"));
    }

    @AfterAll
    static void tearDown() {
        f32.close();
    }

    static List<BatchLogits.Request> prompts(LoraAdapter a) {
        SplittableRandom random = new SplittableRandom(99);
        List<BatchLogits.Request> requests = new ArrayList<>();
        for (int i = 0; i < PROMPTS; i++) {
            requests.add(new BatchLogits.Request(a, TestModels.tokens(1 + random.nextInt(24), cfg.vocabSize(), 100 + i)));
        }
        return requests;
    }

    // measured on this seed: int8 top-1 1.00 / 0.98, worst 0.015 / 0.026, RMS 0.011 / 0.013 (no adapter / adapter);
    // int4 0.79 / 0.83, 0.25 / 0.48, 0.15 / 0.19. Q4_0's step on Gaussian weights is ~0.29σ against Q8_0's ~0.018σ,
    // so ~16× the error is expected of it; a wrong kernel or layout gives an RMS error near 1
    @ParameterizedTest(name = "{0}, adapter {1}: top-1 >= {2}, worst logit error <= {3}, mean relative RMS error <= {4}")
    @CsvSource({
            "INT8, false, 0.95, 0.04, 0.02",
            "INT8, true,  0.95, 0.04, 0.02",
            "INT4, false, 0.70, 0.60, 0.25",
            "INT4, true,  0.70, 0.60, 0.25"})
    void quantizedLogitsStayCloseToTheF32Model(WeightFormat format, boolean withAdapter, double minTop1, double maxError,
            double maxRms) throws Exception {
        List<BatchLogits.Request> requests = prompts(withAdapter ? adapter : null);
        try (BaseModel quantized = BaseModel.load(dir.resolve("model"), format);
                Backend exact = Backends.create(Backends.CPU, f32, 2);
                Backend approx = Backends.create(Backends.CPU, quantized, 2)) {
            List<float[]> expected = BatchLogits.run(exact, requests, 4);
            List<float[]> actual = BatchLogits.run(approx, requests, 4);
            int agree = 0;
            double worst = 0;
            double rmsSum = 0;
            for (int i = 0; i < requests.size(); i++) {
                float[] e = expected.get(i);
                float[] a = actual.get(i);
                agree += argmax(e) == argmax(a) ? 1 : 0;
                double scale = 0;
                for (float v : e) {
                    scale = Math.max(scale, Math.abs(v));
                }
                worst = Math.max(worst, LogitAsserts.maxDiff(e, a) / scale);
                rmsSum += rms(e, a) / rms(e, new float[e.length]);
            }
            double relativeRms = rmsSum / requests.size();
            double top1 = agree / (double) requests.size();
            System.out.printf("%s adapter %s: top-1 agreement %.3f, worst logit error %.4f of the largest logit, "
                    + "mean relative RMS error %.4f%n", format, withAdapter, top1, worst, relativeRms);
            assertTrue(top1 >= minTop1, format + ": top-1 agreement " + top1 + " < " + minTop1);
            assertTrue(worst <= maxError, format + ": worst logit error " + worst + " > " + maxError);
            assertTrue(relativeRms <= maxRms, format + ": mean relative RMS error " + relativeRms + " > " + maxRms);
            assertTrue(worst > 0, format + ": the logits did not change at all, so the weights were not quantized");
        }
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(value = WeightFormat.class, names = {"INT8", "INT4"})
    void theCpuBackendMatchesTheReferencesDequantizingPath(WeightFormat format) throws Exception {
        List<BatchLogits.Request> requests = new ArrayList<>(prompts(adapter).subList(0, 4));
        requests.addAll(prompts(null).subList(4, 8));
        try (BaseModel quantized = BaseModel.load(dir.resolve("model"), format);
                Backend ref = Backends.create(Backends.REFERENCE, quantized, 1);
                Backend cpu = Backends.create(Backends.CPU, quantized, 2)) {
            List<float[]> expected = BatchLogits.run(ref, requests, 4);
            List<float[]> actual = BatchLogits.run(cpu, requests, 4);
            for (int i = 0; i < requests.size(); i++) {
                assertClose(expected.get(i), actual.get(i), 1e-4, format + " request " + i);
            }
        }
    }

    @Test
    void int8QuantizesTheSevenProjectionsAndTheLmHeadAndLeavesEmbeddingsAndNormsAsStored() throws Exception {
        try (BaseModel q = BaseModel.load(dir.resolve("model"), WeightFormat.INT8)) {
            var w = q.weights();
            for (var t : List.of(w.wq(0), w.wk(1), w.wv(0), w.wo(1), w.wGate(0), w.wUp(1), w.wDown(0), w.lmHead())) {
                assertEquals(DType.Q8_0, t.dtype(), t.name());
            }
            assertEquals(DType.F32, w.embed.dtype());
            assertEquals(DType.F32, w.attnNorm[0].dtype());
            assertSame(WeightFormat.INT8, w.format());
        }
    }

    @Test
    void int4KeepsItsLmHeadInInt8() throws Exception {
        try (BaseModel q = BaseModel.load(dir.resolve("model"), WeightFormat.INT4)) {
            assertEquals(DType.Q4_0, q.weights().wDown(1).dtype());
            assertEquals(DType.Q8_0, q.weights().lmHead().dtype());
        }
    }

    /** The root mean square of {@code a − b}. */
    static double rms(float[] a, float[] b) {
        double sum = 0;
        for (int i = 0; i < a.length; i++) {
            sum += (double) (a[i] - b[i]) * (a[i] - b[i]);
        }
        return Math.sqrt(sum / a.length);
    }

    static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            if (v[i] > v[best]) {
                best = i;
            }
        }
        return best;
    }
}
