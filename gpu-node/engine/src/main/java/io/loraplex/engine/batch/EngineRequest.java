package io.loraplex.engine.batch;

import io.loraplex.cluster.TenantId;
import io.loraplex.engine.sample.SamplingParams;
import java.util.Objects;

/**
 * One request to the engine.
 *
 * @param adapter       the adapter, or null for the base model
 * @param priority      higher runs first within its tenant and is preempted last
 * @param deadlineNanos a {@link System#nanoTime()} after which the request is cancelled; 0 for none
 * @param weight        the tenant tier's weight in fair sharing (tokens count 1/weight)
 * @param kind          GENERATE samples tokens; SCORE returns the last position's logits and ends
 */
public record EngineRequest(String id, TenantId tenant, AdapterSpec adapter, int[] prompt, SamplingParams params,
        int priority, long deadlineNanos, double weight, Kind kind) {

    public enum Kind { GENERATE, SCORE }

    public EngineRequest {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(tenant, "tenant");
        Objects.requireNonNull(prompt, "prompt");
        Objects.requireNonNull(params, "params");
        Objects.requireNonNull(kind, "kind");
        if (prompt.length == 0) {
            throw new IllegalArgumentException("request " + id + " has an empty prompt");
        }
        if (!(weight > 0)) {
            throw new IllegalArgumentException("request " + id + ": weight must be > 0");
        }
    }

    public static EngineRequest generate(String id, TenantId tenant, AdapterSpec adapter, int[] prompt, SamplingParams params) {
        return new EngineRequest(id, tenant, adapter, prompt, params, 0, 0, 1.0, Kind.GENERATE);
    }

    public static EngineRequest score(String id, TenantId tenant, AdapterSpec adapter, int[] prompt) {
        return new EngineRequest(id, tenant, adapter, prompt, SamplingParams.builder().maxTokens(1).build(), 0, 0, 1.0,
                Kind.SCORE);
    }

    public EngineRequest withPriority(int p) {
        return new EngineRequest(id, tenant, adapter, prompt, params, p, deadlineNanos, weight, kind);
    }

    public EngineRequest withDeadline(long nanos) {
        return new EngineRequest(id, tenant, adapter, prompt, params, priority, nanos, weight, kind);
    }

    public EngineRequest withWeight(double w) {
        return new EngineRequest(id, tenant, adapter, prompt, params, priority, deadlineNanos, w, kind);
    }
}
