package io.loraplex.router.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** A forced call's text read as it comes: heads once named, arguments as generated, whatever the pieces. */
class LiveToolCallsTest {

    /** The events of {@code text} fed in pieces of {@code size} characters, fragments of one call joined. */
    static List<String> read(String text, int size, LiveToolCalls live) {
        List<String> out = new ArrayList<>();
        for (int at = 0; at < text.length(); at += size) {
            for (LiveToolCalls.Event e : live.onText(text.substring(at, Math.min(text.length(), at + size)))) {
                switch (e) {
                    case LiveToolCalls.Head h -> {
                        assertTrue(h.id().matches("call_[A-Za-z0-9]{24}"), h.id());
                        out.add("head " + h.call() + " " + h.name());
                    }
                    case LiveToolCalls.Arguments a -> {
                        String last = out.isEmpty() ? "" : out.getLast();
                        if (last.startsWith("args " + a.call() + " ")) {
                            out.set(out.size() - 1, last + a.fragment());
                        } else {
                            out.add("args " + a.call() + " " + a.fragment());
                        }
                    }
                }
            }
        }
        return out;
    }

    @Test
    void oneCallStreamsItsHeadThenItsArgumentsWhateverThePieces() {
        String text = "{\"name\":\"order\",\"arguments\":{\"drink\":\"latte\",\"note\":\"a } in \\\"quotes\\\" {\",\"cups\":[1,{\"x\":2}]}}";
        for (int size = 1; size <= text.length(); size++) {
            LiveToolCalls live = new LiveToolCalls();
            assertEquals(List.of("head 0 order", "args 0 {\"drink\":\"latte\",\"note\":\"a } in \\\"quotes\\\" {\",\"cups\":[1,{\"x\":2}]}"),
                    read(text, size, live), "pieces of " + size);
            assertTrue(live.complete());
        }
    }

    @Test
    void anArrayOfCallsStreamsEachInTurn() {
        String text = "[{\"name\":\"order\",\"arguments\":{\"a\":\"]}\"}},{\"name\":\"menu\",\"arguments\":{}}]";
        for (int size : new int[] {1, 3, 7, text.length()}) {
            LiveToolCalls live = new LiveToolCalls();
            assertEquals(List.of("head 0 order", "args 0 {\"a\":\"]}\"}", "head 1 menu", "args 1 {}"), read(text, size, live));
            assertTrue(live.complete());
        }
    }

    @Test
    void aCallCutShortIsStartedButNotComplete() {
        LiveToolCalls live = new LiveToolCalls();
        assertEquals(List.of("head 0 order", "args 0 {\"drink\":\"lat"), read("{\"name\":\"order\",\"arguments\":{\"drink\":\"lat", 5, live));
        assertTrue(live.started());
        assertFalse(live.complete());
    }

    @Test
    void nothingStartsBeforeTheNameIsKnown() {
        LiveToolCalls live = new LiveToolCalls();
        assertEquals(List.of(), read("{\"arguments\":{\"name\":\"x\"},\"name\":\"order\"}", 4, live));
        assertFalse(live.started(), "arguments before the name: left to the parse at the end");
    }
}
