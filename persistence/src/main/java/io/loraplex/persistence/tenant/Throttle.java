package io.loraplex.persistence.tenant;

import io.loraplex.cluster.tenant.TenantProtocol.Limits;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The ephemeral side of a tenant's limits: its two token buckets and its requests in flight. Held
 * by one entity incarnation, never journaled: after a restart the buckets are full and the leases
 * gone (a lost lease frees its slot, as its expiry would). Mutable, confined to the entity's actor.
 */
final class Throttle {

    static final long NANOS_PER_SECOND = 1_000_000_000L;
    static final long NANOS_PER_MINUTE = 60 * NANOS_PER_SECOND;

    /** An admitted request: when (clock nanos), how many tokens it holds, and its model ("" for the base). */
    record InFlight(long admittedNanos, int tokensReserved, String model) {
    }

    private TokenBucket requests;
    private TokenBucket tokens;
    private final Map<String, InFlight> inFlight = new HashMap<>();

    /** Full buckets of these limits, or, if already configured, the same buckets resized to them. */
    void configure(Limits limits, long now) {
        if (requests == null) {
            requests = TokenBucket.full(limits.requestBurst(), limits.requestsPerSecond(), NANOS_PER_SECOND, now);
            tokens = TokenBucket.full(limits.tokensPerMinute(), limits.tokensPerMinute(), NANOS_PER_MINUTE, now);
        } else {
            requests = requests.refill(now).resized(limits.requestBurst(), limits.requestsPerSecond(), NANOS_PER_SECOND);
            tokens = tokens.refill(now).resized(limits.tokensPerMinute(), limits.tokensPerMinute(), NANOS_PER_MINUTE);
        }
    }

    TokenBucket requests(long now) {
        return requests.refill(now);
    }

    TokenBucket tokens(long now) {
        return tokens.refill(now);
    }

    Map<String, InFlight> inFlight() {
        return inFlight;
    }

    /** Takes one request and {@code reserved} tokens (the buckets refilled to {@code now}) and records the lease. */
    void admitted(String requestId, int reserved, String model, long now) {
        requests = requests.refill(now).add(-1);
        tokens = tokens.refill(now).add(-reserved);
        inFlight.put(requestId, new InFlight(now, reserved, model));
    }

    /**
     * Releases the slot and gives back the reservation less what was used (the bucket stays within
     * [0, size]); returns the lease, or null when the request is not in flight.
     */
    InFlight finished(String requestId, int used, long now) {
        InFlight lease = inFlight.remove(requestId);
        if (lease != null) {
            tokens = tokens.refill(now).add(lease.tokensReserved() - (double) used);
        }
        return lease;
    }

    /** Leases gone: their slots free, their reservations kept (what they used is unknown); returns them. */
    List<InFlight> expire(Collection<String> requestIds) {
        return requestIds.stream().map(inFlight::remove).toList();
    }
}
