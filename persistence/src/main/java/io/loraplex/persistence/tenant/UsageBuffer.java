package io.loraplex.persistence.tenant;

import io.loraplex.cluster.tenant.TenantProtocol.UsageRow;
import io.loraplex.persistence.tenant.TenantEvent.UsageRecorded;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Usage not yet journaled: requests and tokens per (hour, model), added to on every finished request
 * and drained into {@link UsageRecorded} events every flush interval, so that the journal sees one
 * write per tenant per interval rather than one per request. Mutable, confined to the entity's actor.
 */
final class UsageBuffer {

    private record Slot(long epochHour, String model) {
    }

    private final Map<Slot, UsageHistory.Usage> pending = new HashMap<>();

    void add(long epochHour, String model, long requests, long tokens) {
        pending.merge(new Slot(epochHour, model), new UsageHistory.Usage(requests, tokens),
                (a, b) -> a.plus(b.requests(), b.tokens()));
    }

    /** What is pending now, apart from what is added or drained here later. */
    UsageBuffer copy() {
        UsageBuffer copy = new UsageBuffer();
        copy.pending.putAll(pending);
        return copy;
    }

    boolean isEmpty() {
        return pending.isEmpty();
    }

    /** The events of everything pending, which is then gone from here. */
    List<TenantEvent> drain() {
        List<TenantEvent> events = new ArrayList<>(pending.size());
        pending.forEach((slot, u) -> events.add(new UsageRecorded(slot.epochHour(), slot.model(), u.requests(), u.tokens())));
        pending.clear();
        return events;
    }

    /** The pending rows in {@code [fromHour, toHour]}. */
    List<UsageRow> rows(long fromHour, long toHour) {
        List<UsageRow> rows = new ArrayList<>();
        pending.forEach((slot, u) -> {
            if (slot.epochHour() >= fromHour && slot.epochHour() <= toHour) {
                rows.add(new UsageRow(slot.epochHour(), slot.model(), u.requests(), u.tokens()));
            }
        });
        return rows;
    }
}
