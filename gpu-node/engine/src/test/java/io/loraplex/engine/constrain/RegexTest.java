package io.loraplex.engine.constrain;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.BitSet;
import java.util.List;
import java.util.SplittableRandom;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The pattern automaton against java.util.regex (search semantics, as JSON Schema's {@code pattern}). */
class RegexTest {

    static final List<String> PATTERNS = List.of("^[a-z]{1,5}$", "^\\d{3}-\\d{2}$", "^(ab|cd)+$", "a.c", "^x?y*z+$",
            "^[^0-9]{2,}$", "^(?:foo|bar|ba)[0-9]?$", "^[\\w.-]+@[a-c]+\\.com$", "b{2}", "^\\s*\\S+$", "^$", "^[a\\-c]{0,3}$");
    static final String ALPHABET = "abcdxyz019-_.@ \\com";

    static boolean matches(Regex r, String s) {
        BitSet at = r.initial();
        for (int i = 0; i < s.length() && !at.isEmpty(); i++) {
            at = r.step(at, s.charAt(i));
        }
        return !at.isEmpty() && r.accepts(at);
    }

    @Test
    void everySupportedPatternMatchesWhatJavaRegexFinds() {
        SplittableRandom random = new SplittableRandom(5);
        for (String p : PATTERNS) {
            Regex ours = Regex.compile(p);
            Pattern reference = Pattern.compile(p);
            for (int n = 0; n < 3000; n++) {
                StringBuilder s = new StringBuilder();
                int len = random.nextInt(9);
                for (int i = 0; i < len; i++) {
                    s.append(ALPHABET.charAt(random.nextInt(ALPHABET.length())));
                }
                assertEquals(reference.matcher(s).find(), matches(ours, s.toString()), "pattern " + p + " on '" + s + "'");
            }
        }
    }

    @Test
    void knownMatchesAndMisses() {
        assertTrue(matches(Regex.compile("^\\d{3}-\\d{2}$"), "123-45"));
        assertTrue(!matches(Regex.compile("^\\d{3}-\\d{2}$"), "123-456"));
        assertTrue(matches(Regex.compile("^(ab|cd)+$"), "abcdab"));
    }

    @Test
    void unsupportedFeaturesAreRefusedByName() {
        assertRefused("^(?=a)a$", "a lookahead");
        assertRefused("^(?<!a)b$", "a lookbehind");
        assertRefused("^(a)\\1$", "a back-reference '\\1'");
        assertRefused("^a+?$", "a lazy quantifier");
        assertRefused("^a++$", "a possessive quantifier");
        assertRefused("\\bword", "a word boundary '\\b'");
        assertRefused("^\\p{L}$", "the escape '\\p'");
        assertRefused("^(?<name>a)$", "a named group");
        assertRefused("^(a$", "an unclosed '('");
    }

    private static void assertRefused(String pattern, String feature) {
        ConstraintException e = assertThrows(ConstraintException.class, () -> Regex.compile(pattern));
        assertEquals("pattern", e.keyword());
        assertTrue(e.getMessage().contains(feature) && e.getMessage().contains(pattern), e.getMessage());
    }
}
