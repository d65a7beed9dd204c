package io.loraplex.simulations.fleet.replay;

import io.loraplex.engine.backend.Backend;
import io.loraplex.engine.backend.Backends;
import io.loraplex.engine.batch.AdapterSpec;
import io.loraplex.engine.batch.Engine;
import io.loraplex.engine.batch.EngineSettings;
import io.loraplex.engine.lora.AdapterLoader;
import io.loraplex.engine.lora.AdapterWriter;
import io.loraplex.engine.lora.LoraAdapter;
import io.loraplex.engine.lora.PagedAdapter;
import io.loraplex.engine.lora.TargetModule;
import io.loraplex.engine.model.BaseModel;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.ModelConfig;
import io.loraplex.engine.model.TinyModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;

/**
 * The CPU cost model's adapter figures, on the local cluster's model (the generated tiny model every GPU
 * node of {@code deploy/local-cluster.sh} serves) with the replay's adapters (rank 8 on q/v) and the
 * engine's default settings (what the local cluster runs with): the time to make an adapter hot from
 * its directory (cold: read, hash-checked, validated, placed in the pool) and from host memory (warm:
 * evicted from the pool, kept in host memory, placed again), each the median of {@code n}; and the pool
 * sizes those settings give (hot: the pool's pages or max-resident-adapters, whichever binds first, with
 * no KV cache in use; warm: the warm budget over the adapter's bytes). Not a test: run it by hand.
 * <pre>
 * MAVEN_OPTS="--add-modules jdk.incubator.vector" ./mvnw -q -o -pl simulations/fleet exec:java -Dexec.classpathScope=test \
 *     -Dexec.mainClass=io.loraplex.simulations.fleet.replay.AdapterLoadBench [-Dexec.args="N THREADS"]
 * </pre>
 */
public final class AdapterLoadBench {

    private AdapterLoadBench() {
    }

    public static void main(String[] args) throws Exception {
        int n = args.length > 0 ? Integer.parseInt(args[0]) : 40;
        int threads = args.length > 1 ? Integer.parseInt(args[1]) : Backends.defaultThreads();
        Path work = Files.createTempDirectory("loraplex-adapter-load-bench");
        Path modelDir = work.resolve("model");
        TinyModel.write(modelDir, TinyModel.Spec.defaults(0));
        EngineSettings settings = EngineSettings.defaults();
        try (BaseModel model = BaseModel.load(modelDir); Backend backend = Backends.create(Backends.CPU, model, threads);
                Engine engine = new Engine(backend, null, List.of(), settings)) {
            ModelConfig cfg = model.config();
            List<AdapterSpec> specs = new ArrayList<>();
            for (int i = 0; i < 2 * n + 20; i++) {
                Path dir = work.resolve("adapter-" + i);
                AdapterWriter.writeRandom(dir, cfg, EnumSet.of(TargetModule.Q_PROJ, TargetModule.V_PROJ), TenantSetup.RANK,
                        2.0 * TenantSetup.RANK, false, DType.F32, 1000 + i);
                specs.add(AdapterSpec.directory("a" + i, dir));
            }
            // the first 20 warm the JIT up on both paths
            for (int i = 0; i < 20; i++) {
                engine.preload(specs.get(i), false).get();
                engine.evict(specs.get(i).hash(), false).get();
                engine.preload(specs.get(i), false).get();
            }
            double[] cold = new double[n];
            double[] warm = new double[n];
            for (int i = 0; i < n; i++) {
                AdapterSpec spec = specs.get(20 + i);
                long t0 = System.nanoTime();
                engine.preload(spec, false).get();
                cold[i] = (System.nanoTime() - t0) / 1e6;
                if (!engine.evict(spec.hash(), false).get()) {
                    throw new IllegalStateException("adapter " + spec.name() + " could not be evicted to the warm tier");
                }
                t0 = System.nanoTime();
                engine.preload(spec, false).get();
                warm[i] = (System.nanoTime() - t0) / 1e6;
            }
            LoraAdapter one = new AdapterLoader(cfg, settings.maxLoraRank()).load("size", work.resolve("adapter-0"));
            int pages = PagedAdapter.pagesNeeded(one, engine.layout());
            int totalPages = engine.layout().pagesFor(settings.memoryBudgetBytes());
            long bytes = one.parameterCount() * Float.BYTES;
            System.out.printf("model: tiny (hidden %d, %d layers), backend cpu, %d threads; adapters rank %d on q/v, %d bytes (f32), "
                    + "%d pages of %d bytes%n", cfg.hiddenSize(), cfg.numLayers(), threads, TenantSetup.RANK, bytes, pages,
                    engine.layout().pageBytes());
            System.out.printf("cold load (directory -> hot), median of %d: %.3f ms (p90 %.3f)%n", n, median(cold), percentile(cold, 90));
            System.out.printf("warm load (host -> hot), median of %d: %.3f ms (p90 %.3f)%n", n, median(warm), percentile(warm, 90));
            System.out.printf("hot pool: %d adapters (min of max-resident-adapters %d and %d pool pages / %d), warm pool: %d adapters "
                    + "(warm budget %d bytes / %d)%n", Math.min(settings.maxResidentAdapters(), totalPages / pages),
                    settings.maxResidentAdapters(), totalPages, pages, settings.warmBudgetBytes() / bytes, settings.warmBudgetBytes(), bytes);
        }
    }

    private static double median(double[] v) {
        return percentile(v, 50);
    }

    private static double percentile(double[] v, int p) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s[Math.max(0, (int) Math.ceil(p / 100.0 * s.length) - 1)];
    }
}
