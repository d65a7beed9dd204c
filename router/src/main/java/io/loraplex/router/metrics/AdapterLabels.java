package io.loraplex.router.metrics;

import java.util.Comparator;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;
import java.util.stream.Collectors;

/**
 * Bounds the {@code model} label of adapters: only the {@code max} busiest adapters (by recent
 * requests) get their own label, every other adapter is counted under {@value #OTHER}. Thousands of
 * adapters would otherwise make thousands of Prometheus series per metric.
 *
 * <p>Until the set is full, a new adapter gets its own label at once; {@link #recompute} (periodic)
 * then keeps the busiest and halves every count, so "busiest" means "busiest lately".
 */
public final class AdapterLabels {

    public static final String OTHER = "other";

    private final int max;
    private final Map<String, LongAdder> counts = new ConcurrentHashMap<>();
    private final Set<String> labelled = ConcurrentHashMap.newKeySet();

    public AdapterLabels(int max) {
        this.max = max;
    }

    /** Counts one request of {@code tenant}'s adapter {@code name}; its label: the name, or {@value #OTHER}. */
    public String label(String tenant, String name) {
        String key = tenant + '\u0000' + name;
        counts.computeIfAbsent(key, k -> new LongAdder()).increment();
        if (labelled.contains(key)) {
            return name;
        }
        synchronized (labelled) {
            if (labelled.size() < max) {
                labelled.add(key);
                return name;
            }
        }
        return OTHER;
    }

    /** Keeps the {@code max} busiest adapters labelled, and halves every count. */
    public void recompute() {
        Map<String, Long> snapshot = counts.entrySet().stream()
                .collect(Collectors.toMap(Map.Entry::getKey, e -> e.getValue().sum()));
        Set<String> top = snapshot.entrySet().stream()
                .filter(e -> e.getValue() > 0)
                .sorted(Map.Entry.<String, Long>comparingByValue(Comparator.reverseOrder()).thenComparing(Map.Entry.comparingByKey()))
                .limit(max)
                .map(Map.Entry::getKey)
                .collect(Collectors.toCollection(HashSet::new));
        synchronized (labelled) {
            labelled.retainAll(top);
            labelled.addAll(top);
        }
        for (Map.Entry<String, Long> e : snapshot.entrySet()) {
            LongAdder adder = counts.get(e.getKey());
            long half = e.getValue() / 2;
            adder.add(half - e.getValue()); // concurrent increments since the snapshot survive
            if (half == 0 && adder.sum() == 0) {
                counts.remove(e.getKey(), adder);
            }
        }
    }

    /** The adapters labelled now, as {@code tenant/name}. */
    public Set<String> labelled() {
        return labelled.stream().map(k -> k.replace('\u0000', '/')).collect(Collectors.toUnmodifiableSet());
    }
}
