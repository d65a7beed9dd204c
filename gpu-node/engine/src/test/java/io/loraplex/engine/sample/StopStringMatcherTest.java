package io.loraplex.engine.sample;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraplex.engine.sample.StopStringMatcher.Emit;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class StopStringMatcherTest {

    /** What a client would have received, and the stop string if one completed. */
    private record Outcome(String text, String stop) {
    }

    private static Outcome stream(List<String> stops, List<String> chunks) {
        StopStringMatcher matcher = new StopStringMatcher(stops);
        StringBuilder out = new StringBuilder();
        for (String chunk : chunks) {
            Emit emit = matcher.feed(chunk);
            out.append(emit.text());
            if (emit.stopped()) {
                return new Outcome(out.toString(), emit.stop());
            }
        }
        out.append(matcher.flush());
        return new Outcome(out.toString(), null);
    }

    /** Character by character: the first position where some stop string ends; the longest of those. */
    private static Outcome reference(List<String> stops, String text) {
        for (int end = 1; end <= text.length(); end++) {
            String best = null;
            for (String s : stops) {
                if (text.startsWith(s, end - s.length()) && end >= s.length()
                        && (best == null || s.length() > best.length())) {
                    best = s;
                }
            }
            if (best != null) {
                return new Outcome(text.substring(0, end - best.length()), best);
            }
        }
        return new Outcome(text, null);
    }

    @Test
    void stopSpanningSeveralTokens() {
        StopStringMatcher matcher = new StopStringMatcher(List.of("</end>"));
        assertEquals(new Emit("Hello ", null), matcher.feed("Hello </"));
        assertEquals(new Emit("", null), matcher.feed("en"));
        assertEquals(new Emit("", "</end>"), matcher.feed("d> and more"));
    }

    @Test
    void heldBackTextIsReleasedWhenItCannotBeAStop() {
        StopStringMatcher matcher = new StopStringMatcher(List.of("</end>"));
        assertEquals(new Emit("a ", null), matcher.feed("a </e"));
        assertEquals(new Emit("</ex", null), matcher.feed("x"));
    }

    @Test
    void overlappingPrefixes() {
        List<String> stops = List.of("ab", "abc");
        assertEquals(new Outcome("xa", "ab"), stream(stops, List.of("xaab")));
        assertEquals(new Outcome("xa", "ab"), stream(stops, List.of("x", "a", "a", "b")));

        StopStringMatcher matcher = new StopStringMatcher(stops);
        assertEquals(new Emit("x", null), matcher.feed("x"));
        assertEquals(new Emit("", null), matcher.feed("a"));
        assertEquals(new Emit("a", null), matcher.feed("a"), "the first a can no longer start a stop");
        assertEquals(new Emit("", "ab"), matcher.feed("b"));
    }

    @Test
    void theStopThatCompletesFirstWins() {
        // "b" is complete at the second character, before "abc" could be.
        assertEquals(new Outcome("a", "b"), stream(List.of("abc", "b"), List.of("abc")));
        // Both end at the same character: the longer one, so the whole of it is cut.
        assertEquals(new Outcome("x", "abc"), stream(List.of("bc", "abc"), List.of("xabcd")));
    }

    @Test
    void stopAtTheVeryStart() {
        StopStringMatcher matcher = new StopStringMatcher(List.of("STOP"));
        Emit emit = matcher.feed("STOPxyz");
        assertEquals("", emit.text());
        assertTrue(emit.stopped());
        assertEquals("STOP", emit.stop());
    }

    @Test
    void flushReleasesEverythingHeldAndEndsTheStream() {
        StopStringMatcher matcher = new StopStringMatcher(List.of("done."));
        assertEquals(new Emit("almost ", null), matcher.feed("almost do"));
        assertEquals("do", matcher.flush());
        assertThrows(IllegalStateException.class, () -> matcher.feed("ne."));
        assertEquals("", matcher.flush(), "nothing is left after a flush");
    }

    @Test
    void nothingMayFollowAStop() {
        StopStringMatcher matcher = new StopStringMatcher(List.of("\n"));
        assertTrue(matcher.feed("one\ntwo").stopped());
        assertThrows(IllegalStateException.class, () -> matcher.feed("three"));
        assertEquals("", matcher.flush(), "text after the stop string is never released");
    }

    @Test
    void severalStops() {
        List<String> stops = List.of("\n\n", "User:", "###");
        assertEquals(new Outcome("The answer is 4.", "###"),
                stream(stops, List.of("The ans", "wer is 4.", "#", "#", "#User:")));
        assertEquals(new Outcome("Sure.\n", "User:"), stream(stops, List.of("Sure.\n", "Us", "er", ":")));
        assertEquals(new Outcome("a", "\n\n"), stream(stops, List.of("a\n", "\nUser:")));
    }

    @Test
    void withoutStopsEverythingPassesAtOnce() {
        StopStringMatcher matcher = new StopStringMatcher(List.of());
        Emit emit = matcher.feed("any text at all");
        assertEquals("any text at all", emit.text());
        assertFalse(emit.stopped());
        assertNull(emit.stop());
        assertEquals("", matcher.flush());
    }

    @Test
    void refusesEmptyStops() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new StopStringMatcher(List.of("a", "")));
        assertEquals("stop[1] must be a non-empty string", e.getMessage());
    }

    /** However the text is chunked, the client gets what the character-by-character reference says. */
    @Test
    void chunkingNeverChangesTheOutcome() {
        SplittableRandom random = new SplittableRandom(17);
        for (int trial = 0; trial < 3000; trial++) {
            List<String> stops = new ArrayList<>();
            int stopCount = random.nextInt(0, 4);
            for (int s = 0; s < stopCount; s++) {
                stops.add(randomText(random, random.nextInt(1, 5)));
            }
            String text = randomText(random, random.nextInt(0, 30));
            List<String> chunks = new ArrayList<>();
            for (int at = 0; at < text.length(); ) {
                int len = Math.min(text.length() - at, random.nextInt(0, 6)); // empty chunks too
                chunks.add(text.substring(at, at + len));
                at += len;
            }
            assertEquals(reference(stops, text), stream(stops, chunks),
                    "stops " + stops + ", chunks " + chunks);
        }
    }

    private static String randomText(SplittableRandom random, int length) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < length; i++) {
            b.append("abc".charAt(random.nextInt(3)));
        }
        return b.toString();
    }
}
