package io.loraplex.engine.tokenizer;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Where templates are found, what the generated tokenizers' templates render, and known Jinjava gaps. */
class ChatTemplateLoadTest {

    static final List<ChatMessage> CHAT = List.of(new ChatMessage("system", "Be brief."), new ChatMessage("user", "Hi"),
            new ChatMessage("assistant", "Hello."), new ChatMessage("user", "Bye"));

    private static Path dirWithConfig(String configJson) throws IOException {
        Path dir = TinyFixtures.scratch("template");
        Files.writeString(dir.resolve(TokenizerConfig.CONFIG), configJson);
        return dir;
    }

    @Test
    void templateFromTokenizerConfigWithItsSpecialTokens() throws IOException {
        Path dir = dirWithConfig("""
                {"bos_token": {"__type": "AddedToken", "content": "<s>"}, "eos_token": "</s>",
                 "chat_template": "{{ bos_token }}{% for m in messages %}{{ m['role'] }}:{{ m['content'] }}{{ eos_token }}{% endfor %}"}""");
        ChatTemplate template = ChatTemplate.load(dir).orElseThrow();
        assertEquals("<s>user:Hi</s>", template.render(List.of(new ChatMessage("user", "Hi")), false));
        assertEquals(dir.resolve(TokenizerConfig.CONFIG).toString(), template.source());
    }

    @Test
    void namedTemplatesUseDefaultAndSeparateFilesWin() throws IOException {
        Path dir = dirWithConfig("""
                {"chat_template": [{"name": "tool_use", "template": "tools"}, {"name": "default", "template": "default"}]}""");
        assertEquals("default", ChatTemplate.load(dir).orElseThrow().render(List.of(), false));
        Files.writeString(dir.resolve(ChatTemplate.JSON_FILE), "{\"chat_template\": \"from json\"}");
        assertEquals("from json", ChatTemplate.load(dir).orElseThrow().render(List.of(), false));
        Files.writeString(dir.resolve(ChatTemplate.JINJA_FILE), "from jinja\n");
        assertEquals("from jinja", ChatTemplate.load(dir).orElseThrow().render(List.of(), false), "one final newline is dropped");
    }

    @Test
    void missingTemplateIsEmptyAndAListWithoutDefaultIsRefused() throws IOException {
        assertEquals(Optional.empty(), ChatTemplate.load(dirWithConfig("{\"eos_token\": \"</s>\"}")));
        assertEquals(Optional.empty(), ChatTemplate.load(TinyFixtures.scratch("nothing")));
        Path dir = dirWithConfig("{\"chat_template\": [{\"name\": \"rag\", \"template\": \"x\"}]}");
        IOException e = assertThrows(IOException.class, () -> ChatTemplate.load(dir));
        assertTrue(e.getMessage().contains("$.chat_template") && e.getMessage().contains("no template named 'default' among [rag]"),
                e.getMessage());
    }

    /** The generated tokenizers carry the real families' templates, so they render the same. */
    @Test
    void generatedTemplatesRenderAsTheRealOnes() throws IOException {
        Map<ChatStyle, String> real = Map.of(ChatStyle.LLAMA3, "llama3-instruct.jinja", ChatStyle.CHATML, "qwen2-instruct.jinja",
                ChatStyle.LLAMA2, "llama2-chat.jinja", ChatStyle.QWEN3, "qwen3.jinja", ChatStyle.PHI3, "phi3-mini-instruct.jinja",
                ChatStyle.GEMMA, "gemma3-instruct.jinja");
        for (ChatStyle style : ChatStyle.values()) {
            ChatTemplate generated = ChatTemplate.load(TinyFixtures.written(TokenizerKind.BYTE_FALLBACK, style)).orElseThrow();
            ChatTemplate original = ChatTemplate.of(ChatTemplateTest.resource(real.get(style)), style.bosToken(), style.eosTokens().getFirst());
            for (boolean generationPrompt : new boolean[] {false, true}) {
                assertEquals(original.render(CHAT, generationPrompt), generated.render(CHAT, generationPrompt), style.name());
            }
        }
    }

    @Test
    void raiseExceptionCarriesTheTemplateMessage() throws IOException {
        ChatTemplate mistral = ChatTemplate.of(ChatTemplateTest.resource("mistral-instruct.jinja"), "<s>", "</s>");
        ChatTemplateException e = assertThrows(ChatTemplateException.class,
                () -> mistral.render(List.of(new ChatMessage("user", "a"), new ChatMessage("user", "b")), true));
        assertEquals("Conversation roles must alternate user/assistant/user/assistant/...", e.templateMessage());
        assertTrue(e.getMessage().startsWith("chat template: "), e.getMessage());
        ChatTemplateException syntax = assertThrows(ChatTemplateException.class,
                () -> ChatTemplate.of("{% for m in messages %}", null, null).render(CHAT, false));
        assertTrue(syntax.getMessage().contains("line 1"), syntax.getMessage());
    }

    @Test
    void strftimeNowReadsTheClock() {
        String today = ChatTemplate.of("{{ strftime_now('%Y') }}", null, null).render(List.of(), false);
        assertEquals(String.valueOf(java.time.Year.now().getValue()), today);
        assertEquals("26 Jul 2024|Friday|14|02 PM|208",
                ChatTemplate.of("{{ strftime_now('%d %b %Y|%A|%H|%I %p|%j') }}", null, null).withClock(ChatTemplateTest.fixedClock())
                        .render(List.of(), false));
    }

    /**
     * Where Jinjava still renders differently from Jinja2; pinned so a change is noticed. Chat
     * templates do not print these values, but a custom template might.
     */
    @Test
    void knownDifferencesFromJinja2() {
        Map<String, String> jinjavaVsJinja2 = Map.of(
                "{{ true }}", "true",              // Jinja2: True
                "{{ none }}", "",                  // Jinja2: None
                "{{ 'a' ~ none }}", "a",           // Jinja2: aNone
                "{{ 1 + 'a' }}", "1a");            // Jinja2: TypeError
        jinjavaVsJinja2.forEach((template, jinjava) ->
                assertEquals(jinjava, ChatTemplate.of(template, null, null).render(List.of(), false), template));
    }
}
