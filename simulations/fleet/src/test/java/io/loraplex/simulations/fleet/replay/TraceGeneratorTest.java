package io.loraplex.simulations.fleet.replay;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraplex.simulations.fleet.TraceRequest;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

class TraceGeneratorTest {

    @Test
    void theSameSpecAndSeedGiveTheSameTraceAndAnotherSeedAnother() {
        assertEquals(TraceGenerator.generate(TraceSpec.validation(1)), TraceGenerator.generate(TraceSpec.validation(1)));
        assertNotEquals(TraceGenerator.generate(TraceSpec.validation(1)), TraceGenerator.generate(TraceSpec.validation(2)));
    }

    @Test
    void theValidationTraceIsOrderedWithinItsDurationAndNamesOnlyItsTenantsAndAdapters() {
        TraceSpec spec = TraceSpec.validation(1);
        List<TraceRequest> trace = TraceGenerator.generate(spec);
        // 2 requests/s for 75 s, a tenth of them sessions of 3 turns: about 150 arrivals, 180 requests
        assertTrue(trace.size() > 120 && trace.size() < 260, "requests: " + trace.size());
        for (int i = 0; i < trace.size(); i++) {
            TraceRequest r = trace.get(i);
            assertTrue(r.atMs() >= 0 && r.atMs() < spec.durationMs(), r.toString());
            assertTrue(i == 0 || trace.get(i - 1).atMs() <= r.atMs(), "ordered at " + i);
            assertTrue(Set.of("replay-1", "replay-2", "replay-3").contains(r.tenant()), r.tenant());
            assertTrue(r.model().matches("adapter-0(0[1-9]|10)"), r.model());
            assertTrue(r.promptTokens() >= 16 && r.promptTokens() <= 64 && r.maxTokens() >= 4 && r.maxTokens() <= 12, r.toString());
        }
        long streamed = trace.stream().filter(TraceRequest::stream).count();
        assertTrue(streamed > trace.size() / 4 && streamed < trace.size() * 3 / 4, "about half streamed: " + streamed);
    }

    @Test
    void aSessionsTurnsNameOneAdapterAndAreTheThinkTimeApart() {
        TraceSpec spec = TraceSpec.validation(3);
        Map<String, List<TraceRequest>> sessions = TraceGenerator.generate(spec).stream().filter(TraceRequest::inSession)
                .collect(Collectors.groupingBy(TraceRequest::session, TreeMap::new, Collectors.toList()));
        assertTrue(sessions.size() >= 5, "sessions: " + sessions.keySet());
        sessions.forEach((id, turns) -> {
            assertTrue(turns.size() <= spec.turnsPerSession(), id + ": " + turns);
            assertEquals(1, turns.stream().map(t -> t.tenant() + "/" + t.model()).distinct().count(), id + ": " + turns);
            for (int i = 1; i < turns.size(); i++) {
                assertEquals(spec.thinkTimeMs(), turns.get(i).atMs() - turns.get(i - 1).atMs(), id + ": " + turns);
            }
        });
    }

    @Test
    void adapterPopularityFollowsTheZipfLawRankOneMostAndRanksDealtToTenantsInTurn() {
        TraceSpec spec = new TraceSpec(5, 2_000_000, 3, 10, 1.0, 10.0, 0, 1, 0, 1, 1, 1, 1, 0);
        Map<String, Long> counts = TraceGenerator.generate(spec).stream()
                .collect(Collectors.groupingBy(r -> r.tenant() + "/" + r.model(), Collectors.counting()));
        long n = counts.values().stream().mapToLong(Long::longValue).sum();
        double harmonic = 0;
        for (int k = 1; k <= 30; k++) {
            harmonic += 1.0 / k;
        }
        // rank 1 is replay-1/adapter-001, rank 2 replay-2/adapter-001, rank 4 replay-1/adapter-002; P(k) = 1 / (k H_30)
        for (int rank : new int[] {1, 2, 4, 30}) {
            String name = TraceGenerator.tenantName(spec, rank - 1) + "/" + TraceGenerator.adapterName(spec, rank - 1);
            double expected = n / (rank * harmonic);
            double share = counts.getOrDefault(name, 0L) / expected;
            assertTrue(share > 0.85 && share < 1.15, "rank " + rank + " (" + name + "): " + counts.get(name) + " of " + n
                    + ", expected about " + Math.round(expected));
        }
        assertEquals("replay-2/adapter-001", TraceGenerator.tenantName(spec, 1) + "/" + TraceGenerator.adapterName(spec, 1));
    }

    @Test
    void aSpecOutOfRangeIsRefusedNamingItsField() {
        Function<Runnable, String> refusal = r -> assertThrows(IllegalArgumentException.class, r::run).getMessage();
        assertEquals("tenants must be at least 1, got 0",
                refusal.apply(() -> new TraceSpec(1, 1000, 0, 10, 1.0, 2.0, 0.1, 3, 2000, 16, 64, 4, 12, 0.5)));
        assertEquals("session_share must be a share between 0 and 1, got 1.5",
                refusal.apply(() -> new TraceSpec(1, 1000, 3, 10, 1.0, 2.0, 1.5, 3, 2000, 16, 64, 4, 12, 0.5)));
        assertEquals("requests_per_second must be a finite number above 0, got 0.0",
                refusal.apply(() -> new TraceSpec(1, 1000, 3, 10, 1.0, 0, 0.1, 3, 2000, 16, 64, 4, 12, 0.5)));
        assertEquals("max_tokens must be a range of at least 1 with min <= max, got 12..4",
                refusal.apply(() -> new TraceSpec(1, 1000, 3, 10, 1.0, 2.0, 0.1, 3, 2000, 16, 64, 12, 4, 0.5)));
        assertEquals("zipf_exponent must be a finite number at least 0, got NaN",
                refusal.apply(() -> new TraceSpec(1, 1000, 3, 10, Double.NaN, 2.0, 0.1, 3, 2000, 16, 64, 4, 12, 0.5)));
    }
}
