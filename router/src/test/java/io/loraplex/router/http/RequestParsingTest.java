package io.loraplex.router.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import io.loraplex.cluster.node.GpuNodeProtocol;
import io.loraplex.cluster.node.GpuNodeProtocol.ChatMessage;
import io.loraplex.cluster.node.GpuNodeProtocol.GenerationParams;
import io.loraplex.cluster.node.GpuNodeProtocol.OutputConstraint;
import io.loraplex.cluster.node.SamplingLimits;
import io.loraplex.router.RouterSettings;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Request bodies to records, and every refusal naming its field. No actor system needed. */
class RequestParsingTest {

    static final RouterSettings SETTINGS = RouterSettings.create(ConfigFactory.load());

    static ChatRequest chat(String json) {
        return ChatRequest.parse(json.getBytes(StandardCharsets.UTF_8), SETTINGS);
    }

    static CompletionRequest completion(String json) {
        return CompletionRequest.parse(json.getBytes(StandardCharsets.UTF_8), SETTINGS);
    }

    static ApiError chatError(String json) {
        return assertThrows(ApiException.class, () -> chat(json)).error();
    }

    static final String MESSAGES = "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]";

    @Test
    void aMinimalChatRequest() {
        ChatRequest r = chat("{\"model\":\"m\"," + MESSAGES + "}");
        assertEquals("m", r.model());
        assertEquals(List.of(new ChatMessage("user", "hi")), r.messages());
        assertEquals(1, r.n());
        assertFalse(r.stream());
        assertFalse(r.logprobs());
        assertNull(r.sampling().maxTokens());
        assertNull(r.sampling().temperature());
        assertTrue(r.sampling().stop().isEmpty());
    }

    @Test
    void maxCompletionTokensWinsOverMaxTokens() {
        ChatRequest r = chat("{\"model\":\"m\"," + MESSAGES + ",\"max_tokens\":10,\"max_completion_tokens\":20}");
        assertEquals(20, r.sampling().maxTokens());
        assertEquals("max_completion_tokens", r.sampling().maxTokensParam());
        assertEquals(10, chat("{\"model\":\"m\"," + MESSAGES + ",\"max_tokens\":10}").sampling().maxTokens());
        assertEquals("max_tokens", chatError("{\"model\":\"m\"," + MESSAGES + ",\"max_tokens\":0}").param());
    }

    @Test
    void seedsOfChoicesCountUp() {
        ChatRequest r = chat("{\"model\":\"m\"," + MESSAGES + ",\"n\":3,\"seed\":-2,\"top_k\":-1}");
        assertNull(r.sampling().topK(), "top_k -1 turns top-k off");
        GenerationParams p2 = r.sampling().params(2, 5, false, 0, 0, 1.0);
        assertEquals(0L, p2.seed());
        assertEquals(5, p2.maxTokens());
        assertNull(chat("{\"model\":\"m\"," + MESSAGES + ",\"n\":2}").sampling().params(1, null, false, 0, 0, 1).seed());
    }

    /** A chat body with one more field. */
    static String withField(String field) {
        return "{\"model\":\"m\"," + MESSAGES + "," + field + "}";
    }

    @Test
    void eachSamplingRangeIsTheOneTheGpuNodesCheckAtItsEdges() {
        // the router and the engine's preparation read the same SamplingLimits: at the edge accepted, beyond refused
        assertEquals(SamplingLimits.MAX_TEMPERATURE, chat(withField("\"temperature\":" + SamplingLimits.MAX_TEMPERATURE))
                .sampling().temperature());
        ApiError hot = chatError(withField("\"temperature\":2.01"));
        assertEquals(400, hot.status());
        assertEquals("temperature", hot.param());
        assertEquals("'temperature' must be a number between 0 and 2, got 2.01", hot.message());
        assertEquals(100.0, chat(withField("\"repetition_penalty\":" + SamplingLimits.MAX_REPETITION_PENALTY)).sampling()
                .repetitionPenalty());
        assertEquals("repetition_penalty", chatError(withField("\"repetition_penalty\":100.5")).param());
        assertEquals(-SamplingLimits.MAX_ABS_PENALTY, chat(withField("\"presence_penalty\":-2")).sampling().presencePenalty());
        assertEquals("frequency_penalty", chatError(withField("\"frequency_penalty\":2.1")).param());
        assertEquals(SamplingLimits.MAX_ABS_LOGIT_BIAS, chat(withField("\"logit_bias\":{\"4\":100}")).sampling().logitBias().get(4));
        ApiError bias = chatError(withField("\"logit_bias\":{\"4\":-100.5}"));
        assertEquals("logit_bias.4", bias.param(), "the key at fault, as the node names it");
        assertEquals("'logit_bias.4' must be between -100 and 100, got -100.5", bias.message());
        String sixteen = "\"stop\":[" + "\"s\",".repeat(SamplingLimits.MAX_STOP_STRINGS - 1) + "\"s\"]";
        assertEquals(SamplingLimits.MAX_STOP_STRINGS, chat(withField(sixteen)).sampling().stop().size());
        ApiError stops = chatError(withField("\"stop\":[" + "\"s\",".repeat(SamplingLimits.MAX_STOP_STRINGS) + "\"s\"]"));
        assertEquals("'stop' may hold at most 16 sequences, got 17", stops.message());
        assertEquals(SamplingLimits.MAX_TOP_LOGPROBS, chat(withField("\"logprobs\":true,\"top_logprobs\":20")).topLogprobs());
        assertEquals(SamplingLimits.MAX_TOP_LOGPROBS, completion("{\"model\":\"m\",\"prompt\":\"x\",\"logprobs\":20}").topLogprobs());
        assertEquals("logprobs", assertThrows(ApiException.class,
                () -> completion("{\"model\":\"m\",\"prompt\":\"x\",\"logprobs\":21}")).error().param());
    }

    @Test
    void developerIsSystemAndAssistantContentMayBeNull() {
        ChatRequest r = chat("{\"model\":\"m\",\"messages\":[{\"role\":\"developer\",\"content\":\"d\"},"
                + "{\"role\":\"assistant\",\"content\":null},{\"role\":\"user\",\"content\":\"u\"}]}");
        assertEquals(List.of(new ChatMessage("system", "d"), new ChatMessage("assistant", ""), new ChatMessage("user", "u")),
                r.messages());
        assertEquals("messages[0].content", chatError("{\"model\":\"m\",\"messages\":[{\"role\":\"user\"}]}").param());
    }

    @Test
    void fieldErrorsNameTheirPath() {
        assertEquals("messages[1].name", chatError("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"},"
                + "{\"role\":\"user\",\"content\":\"b\",\"name\":\"bob\"}]}").param());
        assertEquals("messages[0].content[0].text", chatError("{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
                + "\"content\":[{\"type\":\"text\"}]}]}").param());
        assertEquals("messages[0].content[0].cache_control", chatError("{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
                + "\"content\":[{\"type\":\"text\",\"text\":\"x\",\"cache_control\":{}}]}]}").param());
        assertEquals("messages[0]", chatError("{\"model\":\"m\",\"messages\":[\"hi\"]}").param());
        assertEquals("model", chatError("{" + MESSAGES + "}").param());
        assertEquals("model", chatError("{\"model\":5," + MESSAGES + "}").param());
        assertEquals("stream_options.foo", chatError("{\"model\":\"m\"," + MESSAGES
                + ",\"stream\":true,\"stream_options\":{\"foo\":1}}").param());
        assertEquals("top_logprobs", chatError("{\"model\":\"m\"," + MESSAGES + ",\"top_logprobs\":2}").param());
        assertEquals("top_logprobs", chatError("{\"model\":\"m\"," + MESSAGES + ",\"logprobs\":true,\"top_logprobs\":21}").param());
        assertEquals("n", chatError("{\"model\":\"m\"," + MESSAGES + ",\"n\":9}").param());
        assertEquals("stop", chatError("{\"model\":\"m\"," + MESSAGES + ",\"stop\":" + "[\"a\",".repeat(1)
                + "\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\",\"j\",\"k\",\"l\",\"m\",\"n\",\"o\",\"p\",\"q\"]}").param());
        assertEquals("stop", chatError("{\"model\":\"m\"," + MESSAGES + ",\"stop\":\"\"}").param());
        assertEquals("logit_bias", chatError("{\"model\":\"m\"," + MESSAGES + ",\"logit_bias\":{\"abc\":1}}").param());
        assertEquals("top_p", chatError("{\"model\":\"m\"," + MESSAGES + ",\"top_p\":0}").param());
        assertEquals("repetition_penalty", chatError("{\"model\":\"m\"," + MESSAGES + ",\"repetition_penalty\":0}").param());
        assertEquals("seed", chatError("{\"model\":\"m\"," + MESSAGES + ",\"seed\":1e30}").param());
    }

    @Test
    void everyUnsupportedOpenAiFieldIsRefusedNotIgnored() {
        for (String field : ChatRequest.UNSUPPORTED) {
            ApiError e = chatError("{\"model\":\"m\"," + MESSAGES + ",\"" + field + "\":true}");
            assertEquals(field, e.param());
            assertEquals("unsupported_parameter", e.code());
            assertTrue(e.message().contains(field));
        }
        for (String field : CompletionRequest.UNSUPPORTED) {
            ApiError e = assertThrows(ApiException.class, () -> completion("{\"model\":\"m\",\"prompt\":\"p\",\"" + field + "\":1}"))
                    .error();
            assertEquals(field, e.param());
        }
    }

    @Test
    void duplicateKeysAndTrailingGarbageAreMalformed() {
        assertEquals("invalid_json", chatError("{\"model\":\"m\",\"model\":\"n\"," + MESSAGES + "}").code());
        assertEquals("invalid_json", chatError("{\"model\":\"m\"," + MESSAGES + "} {}").code());
    }

    @Test
    void completionPrompts() {
        assertEquals(new GpuNodeProtocol.TextPrompt("p"), completion("{\"model\":\"m\",\"prompt\":\"p\"}").prompt());
        assertEquals(new GpuNodeProtocol.TextPrompt("p"), completion("{\"model\":\"m\",\"prompt\":[\"p\"]}").prompt());
        assertNull(completion("{\"model\":\"m\",\"prompt\":\"p\"}").sampling().maxTokens(), "the default is the router's");
        assertEquals(3, completion("{\"model\":\"m\",\"prompt\":\"p\",\"logprobs\":3}").topLogprobs());
        assertTrue(completion("{\"model\":\"m\",\"prompt\":\"p\",\"logprobs\":0}").logprobs());
        assertEquals(List.of(new GpuNodeProtocol.TextPrompt("a"), new GpuNodeProtocol.TextPrompt("b")),
                completion("{\"model\":\"m\",\"prompt\":[\"a\",\"b\"]}").prompts(), "several strings: one prompt each");
        assertEquals("'prompt[1]' is 2: 'prompt' holds either strings, token ids or arrays of token ids, not a mix",
                completionError("[\"a\",2]", "").message());
        for (String prompt : List.of("[\"a\",[1]]", "5", "{}", "[]")) {
            ApiError e = assertThrows(ApiException.class, () -> completion("{\"model\":\"m\",\"prompt\":" + prompt + "}")).error();
            assertEquals("prompt", e.param(), prompt);
        }
        assertEquals("logprobs", assertThrows(ApiException.class,
                () -> completion("{\"model\":\"m\",\"prompt\":\"p\",\"logprobs\":true}")).error().param());
    }

    static ApiError completionError(String prompt, String more) {
        return assertThrows(ApiException.class, () -> completion("{\"model\":\"m\",\"prompt\":" + prompt + more + "}")).error();
    }

    @Test
    void aPromptOfTokenIdsIsOneTokenPrompt() {
        CompletionRequest r = completion("{\"model\":\"m\",\"prompt\":[1,0,50256],\"n\":2}");
        assertEquals(List.of(new GpuNodeProtocol.TokenPrompt(new int[] {1, 0, 50256})), r.prompts());
        assertEquals(2, r.choices());
        assertEquals(12, r.promptChars(), "three ids estimated as four characters each");
    }

    @Test
    void anArrayOfTokenIdArraysIsOnePromptEachWithNChoicesEachInOrder() {
        CompletionRequest r = completion("{\"model\":\"m\",\"prompt\":[[1,2],[3],[4,5,6]],\"n\":2}");
        assertEquals(6, r.choices());
        List<GpuNodeProtocol.Prompt> byChoice = java.util.stream.IntStream.range(0, 6).mapToObj(r::prompt).toList();
        GpuNodeProtocol.Prompt a = new GpuNodeProtocol.TokenPrompt(new int[] {1, 2});
        GpuNodeProtocol.Prompt b = new GpuNodeProtocol.TokenPrompt(new int[] {3});
        GpuNodeProtocol.Prompt c = new GpuNodeProtocol.TokenPrompt(new int[] {4, 5, 6});
        assertEquals(List.of(a, a, b, b, c, c), byChoice);
    }

    @Test
    void badTokenIdPromptsAreRefusedNamingPromptAndTheElement() {
        record Case(String prompt, String message) {
        }
        for (Case c : List.of(
                new Case("[[]]", "'prompt[0]' is an empty array of token ids; a prompt needs at least one"),
                new Case("[[1],[]]", "'prompt[1]' is an empty array of token ids; a prompt needs at least one"),
                new Case("[1,2.5]", "'prompt[1]' is 2.5, not a token id (an integer from 0)"),
                new Case("[1,\"two\"]", "'prompt[1]' is a string, not a token id (an integer from 0)"),
                new Case("[1,null]", "'prompt[1]' is null, not a token id (an integer from 0)"),
                new Case("[[1,true]]", "'prompt[0][1]' is true, not a token id (an integer from 0)"),
                new Case("[1,3000000000]", "'prompt[1]' is 3000000000, not a token id (an integer from 0)"),
                new Case("[5,-1]", "'prompt[1]' is -1; token ids are not negative"),
                new Case("[[0],[7,-3]]", "'prompt[1][1]' is -3; token ids are not negative"),
                new Case("[1,[2]]", "'prompt[1]' is an array: 'prompt' holds either strings, token ids or arrays of token ids, not a mix"),
                new Case("[[1],2]", "'prompt[1]' is 2: 'prompt' holds either strings, token ids or arrays of token ids, not a mix"),
                new Case("[[1,[2]]]", "'prompt[0][1]' is an array: 'prompt' holds either strings, token ids or arrays of token ids, not a mix"),
                new Case("[]", "'prompt' must not be an empty array"))) {
            ApiError e = completionError(c.prompt, "");
            assertEquals(400, e.status(), c.prompt);
            assertEquals("prompt", e.param(), c.prompt);
            assertEquals(c.message, e.message(), c.prompt);
        }
    }

    @Test
    void tokenIdsBeyondTheRoutersLimitAreRefusedNamingPrompt() {
        int limit = SETTINGS.maxPromptTokenIds();
        String ids = "[" + String.join(",", java.util.Collections.nCopies(limit + 1, "1")) + "]";
        for (String prompt : List.of(ids, "[" + ids + "]", "[[1,2]," + ids + "]")) {
            ApiError e = assertThrows(ApiException.class, () -> CompletionRequest.parse(("{\"model\":\"m\",\"prompt\":" + prompt + "}")
                    .getBytes(StandardCharsets.UTF_8), SETTINGS)).error();
            assertEquals(400, e.status());
            assertEquals("prompt", e.param());
            assertEquals("'prompt' holds more than " + limit + " token ids; this server takes at most " + limit + " per request",
                    e.message());
        }
        String atTheLimit = "[" + String.join(",", java.util.Collections.nCopies(limit, "1")) + "]";
        assertEquals(limit, ((GpuNodeProtocol.TokenPrompt) CompletionRequest.parse(("{\"model\":\"m\",\"prompt\":" + atTheLimit + "}")
                .getBytes(StandardCharsets.UTF_8), SETTINGS).prompt()).length());
    }

    @Test
    void morePromptsTimesNThanTheRoutersChoicesAreRefusedNamingPrompt() {
        int max = SETTINGS.maxN();
        String prompts = "[" + String.join(",", java.util.Collections.nCopies(max / 2 + 1, "[1]")) + "]";
        ApiError e = completionError(prompts, ",\"n\":2");
        assertEquals(400, e.status());
        assertEquals("prompt", e.param());
        assertEquals("'prompt' holds " + (max / 2 + 1) + " prompts and 'n' is 2: " + (max / 2 + 1) * 2
                + " choices, above this server's limit of " + max + " per request", e.message());
        assertEquals(max, completion("{\"model\":\"m\",\"prompt\":[" + String.join(",", java.util.Collections.nCopies(max, "[1]"))
                + "]}").choices());
    }

    @Test
    void responseFormatJsonSchemaReachesTheNodeAsItsSchemaText() {
        ChatRequest r = chat(withField("\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"person\","
                + "\"strict\":true,\"schema\":{\"type\":\"object\",\"properties\":{\"age\":{\"type\":\"integer\"}},"
                + "\"required\":[\"age\"],\"additionalProperties\":false}}}"));
        GenerationParams p = r.sampling().params(0, 5, false, 0, 0, 1.0);
        assertEquals(new OutputConstraint(OutputConstraint.Kind.JSON_SCHEMA, "{\"type\":\"object\",\"properties\":{\"age\":"
                + "{\"type\":\"integer\"}},\"required\":[\"age\"],\"additionalProperties\":false}"), p.constraint());
    }

    @Test
    void responseFormatJsonObjectAndTextAndNull() {
        assertEquals(new OutputConstraint(OutputConstraint.Kind.JSON_OBJECT, null),
                chat(withField("\"response_format\":{\"type\":\"json_object\"}")).sampling().params(0, 5, false, 0, 0, 1).constraint());
        assertNull(chat(withField("\"response_format\":{\"type\":\"text\"}")).sampling().constraint());
        assertNull(chat(withField("\"response_format\":null")).sampling().constraint());
        assertNull(chat("{\"model\":\"m\"," + MESSAGES + "}").sampling().params(0, 5, false, 0, 0, 1).constraint());
        // vLLM takes response_format on completions too
        assertEquals(OutputConstraint.Kind.JSON_OBJECT, completion("{\"model\":\"m\",\"prompt\":\"x\","
                + "\"response_format\":{\"type\":\"json_object\"}}").sampling().constraint().kind());
    }

    @Test
    void aMalformedResponseFormatIsRefusedNamingTheField() {
        assertRefused("\"response_format\":\"json\"", "response_format", "'response_format' must be an object");
        assertRefused("\"response_format\":{}", "response_format.type", "you must provide 'response_format.type'");
        assertRefused("\"response_format\":{\"type\":\"yaml\"}", "response_format.type",
                "'response_format.type' must be one of 'text', 'json_object', 'json_schema', got 'yaml'");
        assertRefused("\"response_format\":{\"type\":\"json_schema\"}", "response_format.json_schema",
                "'response_format.json_schema' is required when 'response_format.type' is 'json_schema'");
        assertRefused("\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"schema\":{}}}",
                "response_format.json_schema.name", "you must provide 'response_format.json_schema.name'");
        assertRefused("\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"a b\",\"schema\":{}}}",
                "response_format.json_schema.name",
                "'response_format.json_schema.name' must be 1 to 64 letters, digits, underscores or dashes");
        assertRefused("\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"a\"}}",
                "response_format.json_schema.schema", "'response_format.json_schema.schema' is required");
        assertRefused("\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"a\",\"schema\":[1]}}",
                "response_format.json_schema.schema", "'response_format.json_schema.schema' must be a JSON schema object");
        assertRefused("\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"a\",\"schema\":{},"
                + "\"strict\":\"yes\"}}", "response_format.json_schema.strict", "'response_format.json_schema.strict' must be a boolean");
        assertRefused("\"response_format\":{\"type\":\"json_object\",\"schema\":{}}", "response_format.schema",
                "Unrecognized request argument supplied: response_format.schema");
    }

    private static void assertRefused(String field, String param, String message) {
        ApiError e = chatError(withField(field));
        assertEquals(400, e.status());
        assertEquals(param, e.param());
        assertEquals(message, e.message());
    }
}
