package io.loraplex.engine.tokenizer;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * Real chat templates (Llama 3 and 3.1 Instruct, Qwen2 and Qwen2.5 Instruct, Mistral Instruct,
 * Llama 2 chat, Zephyr/TinyLlama) rendered by Jinjava must equal what Python Jinja2, configured as
 * transformers configures it, renders. The expected strings come from {@code chat/render_expected.py}
 * (see its header for the command that regenerates {@code chat/expected.json}).
 */
class ChatTemplateTest {

    static final String DIR = "chat/";

    static Stream<Arguments> cases() throws IOException {
        JsonNode root = TinyFixtures.MAPPER.readTree(resource("expected.json"));
        List<Arguments> out = new ArrayList<>();
        for (JsonNode c : root.get("cases")) {
            out.add(Arguments.of(c.get("name").asText(), c));
        }
        return out.stream();
    }

    static String resource(String name) throws IOException {
        try (InputStream in = ChatTemplateTest.class.getResourceAsStream(DIR + name)) {
            if (in == null) {
                throw new IOException("test resource " + DIR + name + " is missing");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    /** The "now" render_expected.py fixes for strftime_now. */
    static Clock fixedClock() {
        return Clock.fixed(LocalDateTime.parse("2024-07-26T14:05:09").toInstant(ZoneOffset.UTC), ZoneOffset.UTC);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void rendersAsJinja2Does(String name, JsonNode c) throws IOException {
        ChatTemplate template = ChatTemplate.of(resource(c.get("template").asText()), null, null).withClock(fixedClock());
        List<Map<String, Object>> messages = TinyFixtures.MAPPER.convertValue(c.get("messages"), new TypeReference<>() { });
        Map<String, Object> context = TinyFixtures.MAPPER.convertValue(c.get("context"), new TypeReference<>() { });
        boolean generationPrompt = c.get("add_generation_prompt").asBoolean();
        if (c.has("error")) {
            ChatTemplateException e = assertThrows(ChatTemplateException.class,
                    () -> template.render(messages, generationPrompt, context));
            assertEquals(c.get("error").asText(), e.templateMessage());
        } else {
            assertEquals(c.get("expected").asText(), template.render(messages, generationPrompt, context));
        }
    }
}
