package io.loraplex.engine.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The two Jinja2 readings Qwen3's template needs that Jinjava lacks: a keyword argument whose value
 * has operators, and a reversing slice. Expected strings are what Python Jinja2 renders.
 */
class JinjaQwen3FeaturesTest {

    private static final List<ChatMessage> THREE = List.of(new ChatMessage("system", "s"), new ChatMessage("user", "u"),
            new ChatMessage("assistant", "a"));

    private static String render(String template) {
        return ChatTemplate.of(template, null, null).render(THREE, false);
    }

    @Test
    void aKeywordArgumentTakesTheWholeExpressionAsItsValue() {
        assertEquals("2|3", render("{% set ns = namespace(last=messages|length - 1, n=1 + 2) %}{{ ns.last }}|{{ ns.n }}"));
    }

    @Test
    void comparisonsAndSetAssignmentsAreNotReadAsKeywordArguments() {
        assertEquals("eq|5", render("{% set x = 2 + 3 %}{{ 'eq' if messages|length == 3 else 'ne' }}|{{ x }}"));
    }

    @Test
    void aReversingSliceWalksTheListBackwardsAlsoWhenIndexedOrCalled() {
        assertEquals("assistant,user,system|a|cba",
                render("{% for m in messages[::-1] %}{{ m.role }}{{ ',' if not loop.last }}{% endfor %}"
                        + "|{{ messages[::-1][0].content }}|{{ ('abc'|list)[::-1]|join('') }}"));
    }
}
