package io.loraplex.simulations.load;

import io.loraplex.cluster.TenantId;
import io.loraplex.engine.lora.AdapterWriter;
import io.loraplex.engine.lora.TargetModule;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.ModelConfig;
import io.loraplex.engine.model.TinyModel;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * What a simulation provisions before its load starts, through the admin and adapter APIs only: the run's tenants
 * ({@code load-<run>-t<i>}, so runs against one server never collide), a chat key and a manage key for each, and
 * their adapters, generated here against the base model's shape, uploaded and promoted.
 *
 * @param adapters every (tenant, adapter) pair, ranked for the Zipf law: rank 0 is the most popular
 */
record LoadSetup(LoadSettings settings, LoraplexApi api, String runId, String baseModel, ModelConfig baseShape, Path work,
        List<Tenant> tenants, List<Target> adapters, Zipf popularity) {

    /** A tenant of the run and its keys. */
    record Tenant(TenantId id, String chatKey, String manageKey, List<String> adapters) {
    }

    /** One adapter chat can name, with the key that may. */
    record Target(Tenant tenant, String model) {
    }

    /** Chat requests on the base model sent before the load starts, not measured. */
    static final int WARM_UP_REQUESTS = 20;

    /** The rank of the adapter a new session uses; its popularity follows the Zipf law. */
    Target pick(SplittableRandom random) {
        return adapters.get(popularity.sample(random.nextDouble()));
    }

    /** A Gatling feeder record of a target: the attributes the chat scenario's requests read. */
    static Map<String, Object> record(Target t) {
        return Map.of("tenant", t.tenant().id().value(), "chatKey", t.tenant().chatKey(), "manageKey", t.tenant().manageKey(),
                "model", t.model());
    }

    static LoadSetup provision(LoadSettings settings) {
        long started = System.nanoTime();
        LoraplexApi api = new LoraplexApi(settings.url(), settings.adminKey());
        String runId = Long.toString(System.currentTimeMillis(), 36);
        String baseModel = api.baseModel();
        try {
            Path work = Files.createTempDirectory("loraplex-load-" + runId);
            ModelConfig shape = baseShape(settings, work);
            List<Tenant> tenants = new ArrayList<>();
            List<Target> ranked = new ArrayList<>();
            int seed = 0;
            for (int t = 0; t < settings.tenants(); t++) {
                TenantId id = new TenantId("load-" + runId + "-t" + t);
                api.createTenant(id);
                String chatKey = api.createKey(id, "chat");
                String manageKey = api.createKey(id, "chat", "manage");
                List<String> names = new ArrayList<>();
                for (int a = 0; a < settings.adaptersPerTenant(); a++) {
                    String name = "a" + a;
                    Path dir = writeAdapter(work, shape, settings.adapterRank(), ++seed);
                    int version = api.uploadAdapter(manageKey, name, baseModel, dir);
                    api.promote(manageKey, name, version);
                    names.add(name);
                }
                tenants.add(new Tenant(id, chatKey, manageKey, List.copyOf(names)));
            }
            // interleave the tenants in the ranking (t0/a0, t1/a0, ..., t0/a1, ...), so each tenant's first adapter is
            // among the popular ones and a tenant's own adapters still follow the law among themselves
            for (int a = 0; a < settings.adaptersPerTenant(); a++) {
                for (Tenant t : tenants) {
                    ranked.add(new Target(t, t.adapters().get(a)));
                }
            }
            // a freshly started JVM compiles its hot paths on the first requests; what is measured is the server warm (the
            // run's adapters stay cold until their first session, as a real tenant's would be)
            for (int i = 0; i < WARM_UP_REQUESTS; i++) {
                api.chat(tenants.getFirst().chatKey(), baseModel);
            }
            System.out.printf("loraplex-load: run %s against %s (base %s): %d tenants, %d adapters, set up in %.1f s%n", runId,
                    settings.url(), baseModel, tenants.size(), ranked.size(), (System.nanoTime() - started) / 1e9);
            return new LoadSetup(settings, api, runId, baseModel, shape, work, List.copyOf(tenants), List.copyOf(ranked),
                    Zipf.of(ranked.size(), settings.zipfExponent()));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the run's adapter files: " + e.getMessage(), e);
        }
    }

    /**
     * A new random adapter (q_proj and v_proj, the given rank, alpha twice the rank) for the base shape, in its own
     * directory under the run's work folder.
     */
    Path newAdapter(int seed) {
        try {
            return writeAdapter(work, baseShape, settings.adapterRank(), seed);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write adapter " + seed + ": " + e.getMessage(), e);
        }
    }

    private static Path writeAdapter(Path work, ModelConfig shape, int rank, int seed) throws IOException {
        Path dir = work.resolve("adapters/" + seed);
        AdapterWriter.writeRandom(dir, shape, EnumSet.of(TargetModule.Q_PROJ, TargetModule.V_PROJ), rank, 2.0 * rank, false, DType.F32,
                seed);
        return dir;
    }

    /**
     * The base model's shape: the config.json of {@code base-model-dir}, else the demo model that {@code loraplex serve}
     * generates without {@code --model} ({@code TinyModel.Spec.defaults(0)}: deterministic, so the same shape here).
     */
    private static ModelConfig baseShape(LoadSettings settings, Path work) throws IOException {
        if (settings.baseModelDir().isPresent()) {
            Path dir = settings.baseModelDir().get();
            if (!Files.isRegularFile(dir.resolve("config.json"))) {
                throw new IllegalArgumentException("loraplex.load.base-model-dir has no config.json: " + dir);
            }
            return ModelConfig.load(dir);
        }
        return TinyModel.write(work.resolve("base"), TinyModel.Spec.defaults(0)).config();
    }
}
