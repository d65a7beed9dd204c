package io.loraplex.router.http;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * What reading answers as tool calls costs the router per choice: the whole answer ({@link ToolCalls#parse})
 * and the streamed one ({@link ToolCallStream}, fed token-sized pieces of 4 characters), for prose (what
 * every {@code auto} request with tools pays), one call, and eight parallel calls. Not part of the default run:
 * {@code ./mvnw -B -o -pl cluster,router test -Dtest=ToolCallsBench -Dloraplex.bench=true -Dsurefire.failIfNoSpecifiedTests=false}
 */
@EnabledIfSystemProperty(named = "loraplex.bench", matches = "true")
class ToolCallsBench {

    static final ToolUse USE = ToolUseParsingTest.withTools("").toolUse();

    static String call(int i) {
        return "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"City number " + i + " with a long name\", \"unit\": \"celsius\"}}";
    }

    @Test
    void readingAnswersAsCalls() {
        String prose = "The weather in Paris is mild today, with a light breeze from the west and clear skies. ".repeat(10);
        String one = call(0);
        List<String> eight = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            eight.add(call(i));
        }
        String parallel = "[" + String.join(", ", eight) + "]";
        for (var answer : List.of(List.of("prose (" + prose.length() + " chars)", prose), List.of("1 call (" + one.length() + " chars)", one),
                List.of("8 calls (" + parallel.length() + " chars)", parallel))) {
            String text = answer.get(1);
            double whole = measure(() -> ToolCalls.parse(text, USE).map(p -> p.calls().size()).orElse(0));
            double streamed = measure(() -> {
                ToolCallStream s = new ToolCallStream(USE);
                int sent = 0;
                for (int at = 0; at < text.length(); at += 4) {
                    sent += s.onText(text.substring(at, Math.min(text.length(), at + 4))).length();
                }
                return sent + s.finish("").calls().size();
            });
            System.out.printf("%-22s whole %8.2f us   streamed (4-char tokens) %8.2f us%n", answer.get(0), whole, streamed);
        }
        assertEquals(8, ToolCalls.parse(parallel, USE).orElseThrow().calls().size());
    }

    /** Median microseconds of one run, over 15 rounds of 2000 runs after a warm-up. */
    static double measure(java.util.function.IntSupplier run) {
        int sink = 0;
        for (int i = 0; i < 20_000; i++) {
            sink += run.getAsInt();
        }
        List<Double> rounds = new ArrayList<>();
        for (int r = 0; r < 15; r++) {
            long start = System.nanoTime();
            for (int i = 0; i < 2000; i++) {
                sink += run.getAsInt();
            }
            rounds.add((System.nanoTime() - start) / 2000.0 / 1000.0);
        }
        if (sink == 42) {
            System.out.println();
        }
        rounds.sort(Double::compare);
        return rounds.get(rounds.size() / 2);
    }
}
