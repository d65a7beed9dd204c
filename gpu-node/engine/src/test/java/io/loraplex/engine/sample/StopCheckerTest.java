package io.loraplex.engine.sample;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class StopCheckerTest {

    private static final Set<Integer> EOS = Set.of(2, 32000);

    @Test
    void eosStops() {
        StopChecker checker = new StopChecker(SamplingParams.defaults(), EOS);
        assertNull(checker.check(5, 1));
        assertEquals(Finish.eos(), checker.check(32000, 2));
        assertEquals(new Finish(FinishReason.STOP, null, null), checker.check(2, 3));
    }

    @Test
    void ignoreEosGoesOnUntilTheLimit() {
        StopChecker checker = new StopChecker(SamplingParams.builder().ignoreEos(true).maxTokens(3).build(), EOS);
        assertNull(checker.check(2, 1));
        assertNull(checker.check(32000, 2));
        assertEquals(Finish.length(), checker.check(2, 3));
    }

    @Test
    void stopTokenIdsStopAndAreReported() {
        SamplingParams params = SamplingParams.builder().stopTokenIds(List.of(7, 9)).ignoreEos(true).build();
        StopChecker checker = new StopChecker(params, EOS);
        assertNull(checker.check(8, 1));
        assertEquals(Finish.stopToken(9), checker.check(9, 2));
        assertEquals(9, checker.check(9, 2).stopTokenId());
    }

    @Test
    void maxTokensGivesLength() {
        StopChecker checker = new StopChecker(SamplingParams.builder().maxTokens(2).build(), EOS);
        assertNull(checker.check(5, 1));
        assertEquals(FinishReason.LENGTH, checker.check(5, 2).reason());
        assertEquals(FinishReason.LENGTH, checker.check(5, 3).reason());
    }

    @Test
    void stoppingOnTheLastAllowedTokenIsAStop() {
        StopChecker checker = new StopChecker(
                SamplingParams.builder().maxTokens(1).stopTokenIds(List.of(7)).build(), EOS);
        assertEquals(Finish.eos(), checker.check(2, 1));
        assertEquals(Finish.stopToken(7), checker.check(7, 1));
    }

    @Test
    void refusesACountThatExcludesTheToken() {
        StopChecker checker = new StopChecker(SamplingParams.defaults(), EOS);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> checker.check(5, 0));
        assertEquals("generatedCount counts the token just generated and must be at least 1, got 0", e.getMessage());
    }

    @Test
    void finishRefusesInconsistentFields() {
        assertThrows(IllegalArgumentException.class, () -> new Finish(null, null, null));
        assertThrows(IllegalArgumentException.class, () -> new Finish(FinishReason.LENGTH, 3, null));
        assertThrows(IllegalArgumentException.class, () -> new Finish(FinishReason.STOP, 3, "x"));
        assertEquals("</s>", Finish.stopString("</s>").stopString());
        assertEquals(FinishReason.CANCELLED, Finish.of(FinishReason.CANCELLED).reason());
    }
}
