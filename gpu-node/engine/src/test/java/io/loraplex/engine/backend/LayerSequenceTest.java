package io.loraplex.engine.backend;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.loraplex.engine.TestModels;
import io.loraplex.engine.kv.ArenaLayout;
import io.loraplex.engine.kv.PageArena;
import io.loraplex.engine.lora.AdapterLoader;
import io.loraplex.engine.lora.AdapterWriter;
import io.loraplex.engine.lora.LoraAdapter;
import io.loraplex.engine.lora.TargetModule;
import io.loraplex.engine.model.BaseModel;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.ModelConfig;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A backend plugs in by supplying {@link BackendOperations}; the layer sequence is {@link LayerSequence}'s alone. */
class LayerSequenceTest {

    @Test
    void aBackendThatSuppliesOnlyTheOperationsRunsTheSharedLayerSequence(@TempDir Path dir) throws Exception {
        ModelConfig cfg = TestModels.llamaBiased(DType.F32);
        TestModels.write(dir.resolve("model"), cfg, 5);
        AdapterWriter.writeRandom(dir.resolve("a"), cfg, EnumSet.allOf(TargetModule.class), 4, 8, false, DType.F32, 3);
        try (BaseModel model = BaseModel.load(dir.resolve("model"));
                CpuBackend cpu = new CpuBackend(cfg, model.weights(), 2);
                Tracing tracing = new Tracing(new CpuBackend(cfg, model.weights(), 2))) {
            LoraAdapter a = new AdapterLoader(cfg, 64).load("a", dir.resolve("a"));
            List<BatchLogits.Request> requests = List.of(
                    new BatchLogits.Request(null, TestModels.tokens(5, cfg.vocabSize(), 1)),
                    new BatchLogits.Request(a, TestModels.tokens(3, cfg.vocabSize(), 2)));
            List<float[]> expected = BatchLogits.run(cpu, requests, 4);
            List<float[]> actual = BatchLogits.run(tracing, requests, 4);
            for (int i = 0; i < requests.size(); i++) {
                assertArrayEquals(expected.get(i), actual.get(i), "request " + i);
            }
            List<String> layer = List.of("rmsnorm", "project", "lora", "lora", "lora", "rope", "storeKv", "attention",
                    "project", "lora", "residual", "rmsnorm", "project", "lora", "lora", "swiglu", "project", "lora",
                    "residual");
            List<String> sequence = new ArrayList<>(List.of("begin", "embed"));
            for (int l = 0; l < cfg.numLayers(); l++) {
                sequence.addAll(layer);
            }
            sequence.addAll(List.of("finalNorm", "lmHead"));
            assertEquals(sequence, tracing.calls);
        }
    }

    /** Supplies the operations of another backend and records their order; it has no forward pass of its own. */
    private static final class Tracing implements BackendOperations {
        final BackendOperations inner;
        final List<String> calls = new ArrayList<>();

        Tracing(BackendOperations inner) {
            this.inner = inner;
        }

        @Override
        public String name() {
            return "tracing";
        }

        @Override
        public ModelConfig config() {
            return inner.config();
        }

        @Override
        public PageArena allocateArena(ArenaLayout layout, int pages) {
            return inner.allocateArena(layout, pages);
        }

        @Override
        public void begin(ForwardBatch batch, PageArena arena) {
            calls.add("begin");
            inner.begin(batch, arena);
        }

        @Override
        public void embed(Activation out) {
            calls.add("embed");
            inner.embed(out);
        }

        @Override
        public void rmsnorm(int layer, Norm norm, Activation in, Activation out) {
            calls.add("rmsnorm");
            inner.rmsnorm(layer, norm, in, out);
        }

        @Override
        public void project(int layer, Activation in, List<Projection> projections) {
            calls.add("project");
            inner.project(layer, in, projections);
        }

        @Override
        public void lora(int layer, TargetModule module, Activation in, Activation out) {
            calls.add("lora");
            inner.lora(layer, module, in, out);
        }

        @Override
        public void rope(int layer, Activation q, Activation k) {
            calls.add("rope");
            inner.rope(layer, q, k);
        }

        @Override
        public void storeKv(int layer, Activation k, Activation v) {
            calls.add("storeKv");
            inner.storeKv(layer, k, v);
        }

        @Override
        public void attention(int layer, Activation q, Activation out) {
            calls.add("attention");
            inner.attention(layer, q, out);
        }

        @Override
        public void swiglu(Activation gate, Activation up) {
            calls.add("swiglu");
            inner.swiglu(gate, up);
        }

        @Override
        public void geglu(Activation gate, Activation up) {
            calls.add("geglu");
            inner.geglu(gate, up);
        }

        @Override
        public void residual(Activation delta, Activation x) {
            calls.add("residual");
            inner.residual(delta, x);
        }

        @Override
        public void finalNorm(Activation in, Activation out) {
            calls.add("finalNorm");
            inner.finalNorm(in, out);
        }

        @Override
        public void lmHead(Activation in, float[] logits) {
            calls.add("lmHead");
            inner.lmHead(in, logits);
        }

        @Override
        public void close() {
            inner.close();
        }
    }
}
