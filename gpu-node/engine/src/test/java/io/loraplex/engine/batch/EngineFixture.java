package io.loraplex.engine.batch;

import io.loraplex.cluster.TenantId;
import io.loraplex.engine.backend.Backend;
import io.loraplex.engine.backend.Backends;
import io.loraplex.engine.model.BaseModel;
import io.loraplex.engine.sample.SamplingParams;
import java.util.List;

/** Helpers to build engines and requests over a weights-only test model. */
final class EngineFixture {

    static final TenantId ALICE = new TenantId("alice");
    static final TenantId BOB = new TenantId("bob");

    private EngineFixture() {
    }

    static Engine engine(BaseModel model, Backend backend, EngineSettings settings) {
        return new Engine(backend, null, List.of(), settings);
    }

    static Backend cpu(BaseModel model) {
        return Backends.create(Backends.CPU, model, 2);
    }

    static SamplingParams greedy(int maxTokens) {
        return SamplingParams.builder().temperature(0).maxTokens(maxTokens).ignoreEos(true).build();
    }

    static EngineRequest request(String id, TenantId tenant, AdapterSpec adapter, int[] prompt, int maxTokens) {
        return EngineRequest.generate(id, tenant, adapter, prompt, greedy(maxTokens));
    }

    /** Runs one request alone and returns its greedy tokens. */
    static List<Integer> alone(Engine engine, TenantId tenant, AdapterSpec adapter, int[] prompt, int maxTokens) {
        Collector c = new Collector();
        engine.submit(request("alone", tenant, adapter, prompt, maxTokens), c);
        c.await();
        return c.tokens();
    }
}
