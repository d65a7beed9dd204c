package io.loraplex.router.http;

import static io.loraplex.router.testkit.TestRouter.KEY;
import static io.loraplex.router.testkit.TestRouter.json;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.loraplex.cluster.node.GpuNodeProtocol;
import io.loraplex.cluster.tenant.TenantProtocol;
import io.loraplex.router.testkit.FakeGpuNode;
import io.loraplex.router.testkit.FakeTenants;
import io.loraplex.router.testkit.TestRouter;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The OpenAI-compatible API end to end: real HTTP, a real one-node cluster, node and tenant doubles. */
class OpenAiApiTest {

    static TestRouter router;
    static final String METRICS_KEY = "lp-metrics-test-0123456789abcdef";

    @BeforeAll
    static void start() {
        router = new TestRouter("openai-api-test", true,
                "loraplex.router.metrics.key-sha256 = \"" + TenantProtocol.hashKey(METRICS_KEY) + "\"");
    }

    @AfterAll
    static void stop() {
        router.close();
    }

    static String chat(String model, String content, String extra) {
        return "{\"model\":\"" + model + "\",\"messages\":[{\"role\":\"user\",\"content\":\"" + content + "\"}]"
                + (extra.isEmpty() ? "" : "," + extra) + "}";
    }

    /** The JSON chunks of an SSE body, up to and including {@code [DONE]} (returned as null). */
    static List<JsonNode> events(HttpResponse<Stream<String>> response) {
        List<JsonNode> out = new ArrayList<>();
        try (Stream<String> lines = response.body()) {
            Iterator<String> it = lines.iterator();
            while (it.hasNext()) {
                String line = it.next();
                if (line.isEmpty() || line.startsWith(":")) {
                    continue;
                }
                assertTrue(line.startsWith("data: "), "an SSE data line: " + line);
                String data = line.substring(6);
                if (data.equals("[DONE]")) {
                    out.add(null);
                    assertFalse(it.hasNext() && !it.next().isEmpty(), "nothing after [DONE]");
                    break;
                }
                out.add(json(data));
            }
        }
        return out;
    }

    static GpuNodeProtocol.Generate lastGenerate() {
        List<GpuNodeProtocol.Generate> all = router.node.generates;
        return all.get(all.size() - 1);
    }

    static void assertError(HttpResponse<String> response, int status, String type, String param, String code) {
        OpenAiApiTestSupport.assertError(response, status, type, param, code);
    }

    static void awaitFinished(String requestId, int tokens) {
        TestRouter.await(() -> !router.tenants.finishedOf(requestId).isEmpty(), Duration.ofSeconds(5), "Finished of " + requestId);
        assertEquals(1, router.tenants.finishedOf(requestId).size(), "exactly one Finished for " + requestId);
        if (tokens >= 0) {
            assertEquals(tokens, router.tenants.finishedOf(requestId).get(0).tokens());
        }
    }

    // --- chat ---

    @Test
    void chatCompletionOfTheBaseModel() {
        HttpResponse<String> response = router.post("/v1/chat/completions", chat(FakeGpuNode.BASE_MODEL, "hi", "\"user\":\"u1\""));
        assertEquals(200, response.statusCode(), response.body());
        JsonNode body = json(response.body());
        assertTrue(body.get("id").asText().startsWith("chatcmpl-"));
        assertEquals(body.get("id").asText(), response.headers().firstValue("x-request-id").orElseThrow());
        assertEquals("chat.completion", body.get("object").asText());
        assertEquals(FakeGpuNode.BASE_MODEL, body.get("model").asText());
        assertTrue(body.get("created").asLong() > 1_700_000_000L);
        JsonNode choice = body.get("choices").get(0);
        assertEquals(0, choice.get("index").asInt());
        assertEquals("assistant", choice.get("message").get("role").asText());
        assertEquals("Hello, world!", choice.get("message").get("content").asText());
        assertTrue(choice.get("logprobs").isNull());
        assertEquals("stop", choice.get("finish_reason").asText());
        JsonNode usage = body.get("usage");
        assertEquals(7, usage.get("prompt_tokens").asInt());
        assertEquals(3, usage.get("completion_tokens").asInt());
        assertEquals(10, usage.get("total_tokens").asInt());
        assertEquals(2, usage.get("prompt_tokens_details").get("cached_tokens").asInt());

        GpuNodeProtocol.Generate g = lastGenerate();
        assertNull(g.adapter(), "the base model runs without an adapter");
        assertEquals(new GpuNodeProtocol.ChatPrompt(List.of(new GpuNodeProtocol.ChatMessage("user", "hi"))), g.prompt());
        assertNull(g.params().maxTokens(), "chat without max_tokens leaves the limit to the node");
        awaitFinished(body.get("id").asText(), 10);
    }

    @Test
    void chatWithAnAdapterPassesParametersThrough() {
        HttpResponse<String> response = router.post("/v1/chat/completions", "{\"model\":\"cafe\",\"messages\":["
                + "{\"role\":\"system\",\"content\":\"be brief\"},"
                + "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"text\",\"text\":\"b\"}]}],"
                + "\"max_tokens\":50,\"temperature\":0.7,\"top_p\":0.9,\"stop\":[\"\\n\\n\",\"END\"],\"presence_penalty\":0.5,"
                + "\"frequency_penalty\":-0.5,\"logit_bias\":{\"42\":-100,\"7\":5.5},\"top_k\":40,\"min_p\":0.05,"
                + "\"repetition_penalty\":1.1,\"ignore_eos\":true}");
        assertEquals(200, response.statusCode(), response.body());
        assertEquals("cafe", json(response.body()).get("model").asText());
        GpuNodeProtocol.Generate g = lastGenerate();
        assertEquals(FakeTenants.adapter("acme", "cafe"), g.adapter());
        assertEquals(List.of(new GpuNodeProtocol.ChatMessage("system", "be brief"), new GpuNodeProtocol.ChatMessage("user", "a\nb")),
                ((GpuNodeProtocol.ChatPrompt) g.prompt()).messages());
        GpuNodeProtocol.GenerationParams p = g.params();
        assertEquals(50, p.maxTokens());
        assertEquals(0.7, p.temperature());
        assertEquals(0.9, p.topP());
        assertEquals(List.of("\n\n", "END"), p.stop());
        assertEquals(0.5, p.presencePenalty());
        assertEquals(-0.5, p.frequencyPenalty());
        assertEquals(-100.0, p.logitBias().get(42));
        assertEquals(5.5, p.logitBias().get(7));
        assertEquals(40, p.topK());
        assertEquals(0.05, p.minP());
        assertEquals(1.1, p.repetitionPenalty());
        assertTrue(p.ignoreEos());
        assertEquals(0, p.deadlineEpochMillis() == 0 ? 1 : 0, "a non-streaming request carries a deadline");
    }

    @Test
    void chatStreaming() {
        HttpResponse<Stream<String>> response = router.stream("/v1/chat/completions",
                chat(FakeGpuNode.BASE_MODEL, "hi", "\"stream\":true"));
        assertEquals(200, response.statusCode());
        assertTrue(response.headers().firstValue("Content-Type").orElse("").startsWith("text/event-stream"));
        List<JsonNode> events = events(response);
        assertNull(events.get(events.size() - 1), "ends with [DONE]");
        JsonNode first = events.get(0);
        assertEquals("chat.completion.chunk", first.get("object").asText());
        assertEquals("assistant", first.get("choices").get(0).get("delta").get("role").asText());
        assertFalse(first.has("usage"), "no usage field without include_usage");
        StringBuilder text = new StringBuilder();
        String finish = null;
        String id = first.get("id").asText();
        for (JsonNode e : events.subList(0, events.size() - 1)) {
            assertEquals(id, e.get("id").asText());
            JsonNode c = e.get("choices").get(0);
            if (c.get("delta").has("content")) {
                text.append(c.get("delta").get("content").asText());
            }
            if (!c.get("finish_reason").isNull()) {
                finish = c.get("finish_reason").asText();
            }
        }
        assertEquals("Hello, world!", text.toString());
        assertEquals("stop", finish);
        JsonNode last = events.get(events.size() - 2);
        assertEquals("stop", last.get("choices").get(0).get("finish_reason").asText());
        assertEquals(0, last.get("choices").get(0).get("delta").size(), "the finish chunk has an empty delta");
        awaitFinished(id, 10);
    }

    @Test
    void chatStreamingWithUsage() {
        List<JsonNode> events = events(router.stream("/v1/chat/completions",
                chat("cafe", "hi", "\"stream\":true,\"stream_options\":{\"include_usage\":true}")));
        assertNull(events.get(events.size() - 1));
        JsonNode usageChunk = events.get(events.size() - 2);
        assertEquals(0, usageChunk.get("choices").size());
        assertEquals(7, usageChunk.get("usage").get("prompt_tokens").asInt());
        assertEquals(3, usageChunk.get("usage").get("completion_tokens").asInt());
        assertEquals(10, usageChunk.get("usage").get("total_tokens").asInt());
        for (JsonNode e : events.subList(0, events.size() - 2)) {
            assertTrue(e.get("usage").isNull(), "every other chunk carries usage: null");
        }
    }

    @Test
    void nTwoFansOutWithSeedsAndMergesByIndex() {
        int before = router.node.generates.size();
        JsonNode body = json(router.post("/v1/chat/completions", chat(FakeGpuNode.BASE_MODEL, "hi", "\"n\":2,\"seed\":42")).body());
        assertEquals(2, body.get("choices").size());
        assertEquals(0, body.get("choices").get(0).get("index").asInt());
        assertEquals("seed=42!", body.get("choices").get(0).get("message").get("content").asText());
        assertEquals(1, body.get("choices").get(1).get("index").asInt());
        assertEquals("seed=43!", body.get("choices").get(1).get("message").get("content").asText());
        assertEquals(7, body.get("usage").get("prompt_tokens").asInt(), "the prompt counts once");
        assertEquals(6, body.get("usage").get("completion_tokens").asInt());
        assertEquals(before + 2, router.node.generates.size());
        awaitFinished(body.get("id").asText(), 13);

        List<JsonNode> events = events(router.stream("/v1/chat/completions",
                chat(FakeGpuNode.BASE_MODEL, "hi", "\"n\":2,\"seed\":7,\"stream\":true")));
        StringBuilder[] text = {new StringBuilder(), new StringBuilder()};
        int[] roles = new int[2];
        int[] finishes = new int[2];
        for (JsonNode e : events.subList(0, events.size() - 1)) {
            JsonNode c = e.get("choices").get(0);
            int i = c.get("index").asInt();
            JsonNode delta = c.get("delta");
            if (delta.has("role")) {
                roles[i]++;
            }
            if (delta.has("content")) {
                text[i].append(delta.get("content").asText());
            }
            if (!c.get("finish_reason").isNull()) {
                finishes[i]++;
            }
        }
        assertEquals("seed=7!", text[0].toString());
        assertEquals("seed=8!", text[1].toString());
        assertEquals(1, roles[0]);
        assertEquals(1, roles[1]);
        assertEquals(1, finishes[0]);
        assertEquals(1, finishes[1]);
    }

    @Test
    void chatLogprobs() {
        JsonNode body = json(router.post("/v1/chat/completions",
                chat(FakeGpuNode.BASE_MODEL, "hi", "\"logprobs\":true,\"top_logprobs\":2")).body());
        GpuNodeProtocol.Generate g = lastGenerate();
        assertTrue(g.params().logprobs());
        assertEquals(2, g.params().topLogprobs());
        JsonNode content = body.get("choices").get(0).get("logprobs").get("content");
        assertEquals(3, content.size());
        JsonNode hello = content.get(0);
        assertEquals("Hello", hello.get("token").asText());
        assertEquals(-0.5, hello.get("logprob").asDouble());
        assertEquals(5, hello.get("bytes").size());
        assertEquals('H', hello.get("bytes").get(0).asInt());
        assertEquals(2, hello.get("top_logprobs").size());
        assertEquals("alt1", hello.get("top_logprobs").get(1).get("token").asText());
        assertEquals(-2.0, hello.get("top_logprobs").get(1).get("logprob").asDouble());
        assertTrue(hello.get("top_logprobs").get(1).has("bytes"));

        List<JsonNode> events = events(router.stream("/v1/chat/completions",
                chat(FakeGpuNode.BASE_MODEL, "hi", "\"logprobs\":true,\"stream\":true")));
        JsonNode firstToken = events.get(1).get("choices").get(0);
        assertEquals("Hello", firstToken.get("delta").get("content").asText());
        assertEquals("Hello", firstToken.get("logprobs").get("content").get(0).get("token").asText());
        assertEquals(0, firstToken.get("logprobs").get("content").get(0).get("top_logprobs").size());
    }

    // --- completions ---

    @Test
    void completions() {
        HttpResponse<String> response = router.post("/v1/completions",
                "{\"model\":\"cafe\",\"prompt\":[\"Once upon\"],\"logprobs\":2,\"max_tokens\":3}");
        assertEquals(200, response.statusCode(), response.body());
        JsonNode body = json(response.body());
        assertTrue(body.get("id").asText().startsWith("cmpl-"));
        assertEquals("text_completion", body.get("object").asText());
        JsonNode choice = body.get("choices").get(0);
        assertEquals("Hello, world!", choice.get("text").asText());
        assertEquals("stop", choice.get("finish_reason").asText());
        JsonNode lp = choice.get("logprobs");
        assertEquals(List.of("Hello", ",", " world"), List.of(lp.get("tokens").get(0).asText(), lp.get("tokens").get(1).asText(),
                lp.get("tokens").get(2).asText()));
        assertEquals(-0.5, lp.get("token_logprobs").get(0).asDouble());
        assertEquals(-2.0, lp.get("top_logprobs").get(0).get("alt1").asDouble());
        assertEquals(0, lp.get("text_offset").get(0).asInt());
        assertEquals(5, lp.get("text_offset").get(1).asInt());
        assertEquals(6, lp.get("text_offset").get(2).asInt());
        assertEquals(new GpuNodeProtocol.TextPrompt("Once upon"), lastGenerate().prompt());
        assertEquals(10, body.get("usage").get("total_tokens").asInt());

        // OpenAI's default of 16 tokens for completions
        router.post("/v1/completions", "{\"model\":\"cafe\",\"prompt\":\"x\"}");
        assertEquals(16, lastGenerate().params().maxTokens());
        // a max_tokens below the output truncates: finish_reason length
        JsonNode truncated = json(router.post("/v1/completions", "{\"model\":\"cafe\",\"prompt\":\"x\",\"max_tokens\":1}").body());
        assertEquals("Hello", truncated.get("choices").get(0).get("text").asText());
        assertEquals("length", truncated.get("choices").get(0).get("finish_reason").asText());
    }

    @Test
    void completionsStreaming() {
        List<JsonNode> events = events(router.stream("/v1/completions",
                "{\"model\":\"cafe\",\"prompt\":\"Once\",\"stream\":true,\"logprobs\":1,\"stream_options\":{\"include_usage\":true}}"));
        assertNull(events.get(events.size() - 1));
        StringBuilder text = new StringBuilder();
        List<Integer> offsets = new ArrayList<>();
        for (JsonNode e : events.subList(0, events.size() - 2)) {
            assertEquals("text_completion", e.get("object").asText());
            JsonNode c = e.get("choices").get(0);
            text.append(c.get("text").asText());
            if (!c.get("logprobs").isNull()) {
                offsets.add(c.get("logprobs").get("text_offset").get(0).asInt());
            }
        }
        assertEquals("Hello, world!", text.toString());
        assertEquals(List.of(0, 5, 6), offsets);
        JsonNode finish = events.get(events.size() - 3).get("choices").get(0);
        assertEquals("stop", finish.get("finish_reason").asText());
        JsonNode usage = events.get(events.size() - 2);
        assertEquals(0, usage.get("choices").size());
        assertEquals(10, usage.get("usage").get("total_tokens").asInt());
    }

    @Test
    void completionsOfSeveralTokenIdPromptsAnswerNChoicesPerPromptInOrderAndCountEachPromptOnce() {
        HttpResponse<String> response = router.post("/v1/completions",
                "{\"model\":\"cafe\",\"prompt\":[[11,12],[13]],\"n\":2,\"max_tokens\":3}");
        assertEquals(200, response.statusCode(), response.body());
        JsonNode body = json(response.body());
        List<String> texts = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            JsonNode choice = body.get("choices").get(i);
            assertEquals(i, choice.get("index").asInt());
            texts.add(choice.get("text").asText());
        }
        assertEquals(List.of("ids=11,12!", "ids=11,12!", "ids=13!", "ids=13!"), texts, "the fake node answers with the ids it got");
        assertEquals(3, body.get("usage").get("prompt_tokens").asInt(), "2 + 1 prompt tokens, each prompt once");
        assertEquals(12, body.get("usage").get("completion_tokens").asInt());
        assertEquals(new GpuNodeProtocol.TokenPrompt(new int[] {13}), lastGenerate().prompt());
    }

    @Test
    void completionsOfSeveralTextPromptsAnswerNChoicesPerPromptInOrder() {
        HttpResponse<String> response = router.post("/v1/completions",
                "{\"model\":\"cafe\",\"prompt\":[\"[say]one\",\"[say]two\"],\"n\":2,\"max_tokens\":3}");
        assertEquals(200, response.statusCode(), response.body());
        List<String> texts = new ArrayList<>();
        JsonNode choices = json(response.body()).get("choices");
        for (int i = 0; i < choices.size(); i++) {
            assertEquals(i, choices.get(i).get("index").asInt());
            texts.add(choices.get(i).get("text").asText());
        }
        assertEquals(List.of("one", "one", "two", "two"), texts);
        assertEquals(new GpuNodeProtocol.TextPrompt("[say]two"), lastGenerate().prompt());
    }

    @Test
    void completionsOfTokenIdPromptsStreamEachChoiceUnderItsIndex() {
        List<JsonNode> events = events(router.stream("/v1/completions", "{\"model\":\"cafe\",\"prompt\":[[5],[6,7]],\"stream\":true,"
                + "\"stream_options\":{\"include_usage\":true}}"));
        assertNull(events.get(events.size() - 1));
        StringBuilder[] texts = {new StringBuilder(), new StringBuilder()};
        for (JsonNode e : events.subList(0, events.size() - 2)) {
            JsonNode c = e.get("choices").get(0);
            texts[c.get("index").asInt()].append(c.get("text").asText());
        }
        assertEquals("ids=5!", texts[0].toString());
        assertEquals("ids=6,7!", texts[1].toString());
        assertEquals(3, events.get(events.size() - 2).get("usage").get("prompt_tokens").asInt());
    }

    @Test
    void aNegativeTokenIdIsRefusedBeforeAnyNodeIsAsked() {
        int before = router.node.generates.size();
        HttpResponse<String> response = router.post("/v1/completions", "{\"model\":\"cafe\",\"prompt\":[1,-2]}");
        assertError(response, 400, "invalid_request_error", "prompt", "invalid_value");
        assertEquals("'prompt[1]' is -2; token ids are not negative", json(response.body()).at("/error/message").asText());
        assertEquals(before, router.node.generates.size());
    }

    // --- models ---

    @Test
    void modelsListTheCallersAdaptersAndTheBase() {
        HttpResponse<String> response = router.send("GET", "/v1/models", KEY, null);
        assertEquals(200, response.statusCode(), response.body());
        JsonNode body = json(response.body());
        assertEquals("list", body.get("object").asText());
        List<String> ids = new ArrayList<>();
        for (JsonNode m : body.get("data")) {
            ids.add(m.get("id").asText());
            assertEquals("model", m.get("object").asText());
            assertTrue(m.has("created") && m.has("owned_by"));
        }
        assertEquals(List.of(FakeGpuNode.BASE_MODEL, "bistro", "cafe"), ids);

        JsonNode cafe = json(router.send("GET", "/v1/models/cafe", KEY, null).body());
        assertEquals("cafe", cafe.get("id").asText());
        assertEquals("acme", cafe.get("owned_by").asText());
        assertEquals(FakeTenants.CREATED, cafe.get("created").asLong());
        assertEquals(200, router.send("GET", "/v1/models/" + FakeGpuNode.BASE_MODEL, KEY, null).statusCode());

        // another tenant's adapter reads exactly like a missing one
        HttpResponse<String> other = router.send("GET", "/v1/models/secret", KEY, null);
        HttpResponse<String> missing = router.send("GET", "/v1/models/secreu", KEY, null);
        assertError(other, 404, "invalid_request_error", "model", "model_not_found");
        assertEquals(missing.body().replace("secreu", "secret"), other.body());
        assertError(router.send("GET", "/v1/models", null, null), 401, "invalid_request_error", null, "invalid_api_key");
        // ids may hold slashes (org/name) and escapes
        HttpResponse<String> slashed = router.send("GET", "/v1/models/org/some%20name", KEY, null);
        assertError(slashed, 404, "invalid_request_error", "model", "model_not_found");
        assertTrue(json(slashed.body()).get("error").get("message").asText().contains("`org/some name`"), slashed.body());
        assertError(router.send("POST", "/v1/models", KEY, "{}"), 405, "invalid_request_error", null, "method_not_allowed");
    }

    // --- errors ---

    @Test
    void malformedJsonNamesTheProblem() {
        HttpResponse<String> response = router.post("/v1/chat/completions", "{\"model\": \"cafe\", \"messages\": [}");
        assertError(response, 400, "invalid_request_error", null, "invalid_json");
        String message = json(response.body()).get("error").get("message").asText();
        assertTrue(message.contains("Unexpected close marker '}'") && message.contains("line 1, column 32"), message);
        assertFalse(message.contains("REDACTED"), message);
        assertError(router.post("/v1/chat/completions", "[1]"), 400, "invalid_request_error", null, "invalid_json");
        assertError(router.post("/v1/chat/completions", ""), 400, "invalid_request_error", null, "invalid_json");
    }

    @Test
    void wrongTypesNameTheField() {
        HttpResponse<String> response = router.post("/v1/chat/completions", chat("cafe", "hi", "\"temperature\":\"hot\""));
        assertError(response, 400, "invalid_request_error", "temperature", "invalid_type");
        assertTrue(json(response.body()).get("error").get("message").asText().contains("must be a number"));
        assertError(router.post("/v1/chat/completions", chat("cafe", "hi", "\"temperature\":3")), 400, "invalid_request_error",
                "temperature", "invalid_value");
        assertError(router.post("/v1/chat/completions", chat("cafe", "hi", "\"n\":1.5")), 400, "invalid_request_error", "n",
                "invalid_type");
        assertError(router.post("/v1/chat/completions", chat("cafe", "hi", "\"stream\":\"yes\"")), 400, "invalid_request_error",
                "stream", "invalid_type");
        assertError(router.post("/v1/chat/completions", chat("cafe", "hi", "\"stop\":[1]")), 400, "invalid_request_error",
                "stop[0]", "invalid_type");
        assertError(router.post("/v1/chat/completions", chat("cafe", "hi", "\"logit_bias\":{\"5\":101}")), 400,
                "invalid_request_error", "logit_bias.5", "invalid_value");
        assertError(router.post("/v1/chat/completions", chat("cafe", "hi", "\"stream_options\":{\"include_usage\":true}")), 400,
                "invalid_request_error", "stream_options", "invalid_value");
        assertError(router.post("/v1/chat/completions", "{\"model\":\"cafe\",\"messages\":[{\"role\":\"tool\",\"content\":\"x\"}]}"),
                400, "invalid_request_error", "messages[0].role", "invalid_value");
        // token ids are a prompt since issue 19; a negative one is not
        assertError(router.post("/v1/completions", "{\"model\":\"cafe\",\"prompt\":[1,-2,3]}"), 400, "invalid_request_error",
                "prompt", "invalid_value");
    }

    @Test
    void responseFormatReachesTheNodeAsAnOutputConstraint() {
        HttpResponse<String> response = router.post("/v1/chat/completions", chat("cafe", "hi",
                "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"flag\",\"strict\":true,"
                        + "\"schema\":{\"type\":\"boolean\"}}}"));
        assertEquals(200, response.statusCode(), response.body());
        assertEquals(new GpuNodeProtocol.OutputConstraint(GpuNodeProtocol.OutputConstraint.Kind.JSON_SCHEMA, "{\"type\":\"boolean\"}"),
                lastGenerate().params().constraint());
    }

    @Test
    void unsupportedAndUnknownFieldsAreRefusedByName() {
        // tools are supported since issue 19 (ToolCallsApiTest); the deprecated functions are not
        HttpResponse<String> functions = router.post("/v1/chat/completions", chat("cafe", "hi", "\"functions\":[{\"name\":\"f\"}]"));
        assertError(functions, 400, "invalid_request_error", "functions", "unsupported_parameter");
        assertTrue(json(functions.body()).get("error").get("message").asText().contains("functions"));
        // response_format is supported since issue 19: another field OpenAI has and this server lacks stands in for it
        assertError(router.post("/v1/chat/completions", chat("cafe", "hi", "\"audio\":{\"voice\":\"alloy\"}")), 400,
                "invalid_request_error", "audio", "unsupported_parameter");
        assertError(router.post("/v1/chat/completions", chat("cafe", "hi", "\"frobnicate\":1")), 400, "invalid_request_error",
                "frobnicate", "unknown_parameter");
        assertError(router.post("/v1/completions", "{\"model\":\"cafe\",\"prompt\":\"x\",\"echo\":true}"), 400,
                "invalid_request_error", "echo", "unsupported_parameter");
        assertError(router.post("/v1/completions", "{\"model\":\"cafe\",\"prompt\":\"x\",\"messages\":[]}"), 400,
                "invalid_request_error", "messages", "unknown_parameter");
        // null means "not given"
        assertEquals(200, router.post("/v1/chat/completions", chat("cafe", "hi", "\"tools\":null,\"temperature\":null")).statusCode());
    }

    @Test
    void nonTextContentPartsAreRefusedByPath() {
        HttpResponse<String> response = router.post("/v1/chat/completions", "{\"model\":\"cafe\",\"messages\":[{\"role\":\"user\","
                + "\"content\":[{\"type\":\"text\",\"text\":\"what is this\"},{\"type\":\"image_url\",\"image_url\":{\"url\":\"x\"}}]}]}");
        assertError(response, 400, "invalid_request_error", "messages[0].content[1].type", "unsupported_content_type");
    }

    @Test
    void emptyMessages() {
        assertError(router.post("/v1/chat/completions", "{\"model\":\"cafe\",\"messages\":[]}"), 400, "invalid_request_error",
                "messages", "invalid_value");
        assertError(router.post("/v1/chat/completions", "{\"model\":\"cafe\"}"), 400, "invalid_request_error", "messages",
                "invalid_value");
    }

    @Test
    void unknownModelAndAnotherTenantsAdapterAreNotFound() {
        HttpResponse<String> unknown = router.post("/v1/chat/completions", chat("nope", "hi", ""));
        assertError(unknown, 404, "invalid_request_error", "model", "model_not_found");
        HttpResponse<String> foreign = router.post("/v1/chat/completions", chat("secret", "hi", ""));
        assertError(foreign, 404, "invalid_request_error", "model", "model_not_found");
        assertEquals(unknown.body().replace("nope", "secret"), foreign.body());
    }

    @Test
    void aNameWhosePromotedVersionWasQuarantinedAnswers422SayingWhichVersionAndWhy() {
        router.tenants.quarantined.computeIfAbsent("acme", t -> new java.util.concurrent.ConcurrentHashMap<>())
                .put("mocha", new io.loraplex.cluster.tenant.TenantProtocol.Quarantine(3, "it produced a non-finite logit"));
        HttpResponse<String> response = router.post("/v1/chat/completions", chat("mocha", "hi", ""));
        // as a request running on the version when it was quarantined is told: not a 404 "does not exist"
        assertError(response, 422, "invalid_request_error", "model", "adapter_quarantined");
        assertEquals("The model `mocha` is unavailable: its version 3 was quarantined (it produced a non-finite logit).",
                json(response.body()).get("error").get("message").asText());
        assertError(router.post("/v1/completions", "{\"model\":\"mocha\",\"prompt\":\"hi\"}"), 422, "invalid_request_error", "model",
                "adapter_quarantined");
    }

    @Test
    void aNodesAdapterRefusalGetsTheStatusOfItsReasonNotOfItsWording() {
        HttpResponse<String> missing = router.post("/v1/chat/completions", chat("cafe", "[reject:adapter-missing]", ""));
        assertError(missing, 404, "invalid_request_error", "model", "model_not_found");
        assertTrue(json(missing.body()).get("error").get("message").asText().startsWith("adapter cafe (version 1) is not available"),
                missing.body());
        HttpResponse<String> invalid = router.post("/v1/chat/completions", chat("cafe", "[reject:adapter-invalid]", ""));
        assertError(invalid, 422, "invalid_request_error", "model", "invalid_adapter");
        assertEquals("adapter cafe (version 1) does not load on this base: lora_A of layer 3 has rank 9, above the limit of 8",
                json(invalid.body()).get("error").get("message").asText());
    }

    @Test
    void contextLengthExceededComesFromTheNode() {
        HttpResponse<String> response = router.post("/v1/chat/completions", chat("cafe", "[reject:context]", "\"max_tokens\":900"));
        assertError(response, 400, "invalid_request_error", "max_tokens", "context_length_exceeded");
        String id = response.headers().firstValue("x-request-id").orElseThrow();
        awaitFinished(id, 0);
        // the same status for a streaming request: it is decided after the node's answer
        HttpResponse<String> streaming = router.post("/v1/chat/completions",
                chat("cafe", "[reject:context]", "\"max_completion_tokens\":900,\"stream\":true"));
        assertError(streaming, 400, "invalid_request_error", "max_completion_tokens", "context_length_exceeded");
    }

    @Test
    void maxTokensAboveTheTenantsCap() {
        HttpResponse<String> response = router.post("/v1/chat/completions", chat("cafe", "hi", "\"max_tokens\":5000"));
        assertError(response, 400, "invalid_request_error", "max_tokens", "invalid_value");
        awaitFinished(response.headers().firstValue("x-request-id").orElseThrow(), 0);
    }

    @Test
    void bodyOverTheLimit() {
        String big = "x".repeat(2 * 1024 * 1024);
        assertError(router.post("/v1/chat/completions", chat("cafe", big, "")), 413, "invalid_request_error", null,
                "request_too_large");
    }

    @Test
    void maxTokensNoWaitCanServeIsA400NamingTheLimitNotA429() {
        HttpResponse<String> response = router.post("/v1/chat/completions", chat("cafe", "hi", "\"max_tokens\":2000000"));
        assertError(response, 400, "invalid_request_error", "max_tokens", "request_too_large");
        String message = json(response.body()).get("error").get("message").asText();
        assertTrue(message.contains("limit of " + FakeTenants.TOKENS_PER_MINUTE + " tokens per minute"), message);
        assertTrue(response.headers().firstValue("Retry-After").isEmpty());
    }

    @Test
    void missingOrBadKey() {
        assertError(router.send("POST", "/v1/chat/completions", null, chat("cafe", "hi", "")), 401, "invalid_request_error", null,
                "invalid_api_key");
        HttpResponse<String> bad = router.send("POST", "/v1/chat/completions", "sk-wrong-0123456789", chat("cafe", "hi", ""));
        assertError(bad, 401, "invalid_request_error", null, "invalid_api_key");
        assertFalse(bad.body().contains("sk-wrong-0123456789"), "the key is never echoed whole");
    }

    @Test
    void rateLimitedWithRetryAfter() {
        HttpResponse<String> response = router.send("POST", "/v1/chat/completions", TestRouter.LIMITED_KEY,
                chat(FakeGpuNode.BASE_MODEL, "hi", ""));
        assertError(response, 429, "rate_limit_error", null, "rate_limit_exceeded");
        assertEquals("2", response.headers().firstValue("Retry-After").orElseThrow());
    }

    @Test
    void overloadedNodeIs503() {
        assertError(router.post("/v1/chat/completions", chat("cafe", "[reject:overloaded]", "")), 503, "server_error", null,
                "service_unavailable");
    }

    @Test
    void unknownPathAndWrongMethod() {
        HttpResponse<String> notFound = router.send("POST", "/v1/embeddings", KEY, "{}");
        assertError(notFound, 404, "invalid_request_error", null, "unknown_url");
        HttpResponse<String> wrongMethod = router.send("GET", "/v1/chat/completions", KEY, null);
        assertError(wrongMethod, 405, "invalid_request_error", null, "method_not_allowed");
        assertEquals("POST", wrongMethod.headers().firstValue("Allow").orElseThrow());
    }

    @Test
    void failureMidStream() {
        List<JsonNode> events = events(router.stream("/v1/chat/completions", chat("cafe", "[fail]", "\"stream\":true")));
        assertNull(events.get(events.size() - 1), "[DONE] still closes the stream");
        JsonNode error = events.get(events.size() - 2).get("error");
        assertNotNull(error);
        assertTrue(error.get("message").asText().contains("the engine failed the request"));
        assertError(router.post("/v1/chat/completions", chat("cafe", "[fail]", "")), 500, "server_error", null, "generation_failed");
    }

    @Test
    void aQuarantinedAdapterIsAnInvalidRequestNamingTheAdapterNotAServerError() {
        List<JsonNode> events = events(router.stream("/v1/chat/completions", chat("cafe", "[poisoned]", "\"stream\":true")));
        JsonNode error = events.get(events.size() - 2).get("error");
        assertEquals("invalid_request_error", error.get("type").asText());
        assertEquals("adapter_quarantined", error.get("code").asText());
        assertEquals("model", error.get("param").asText());
        assertTrue(error.get("message").asText().startsWith("adapter t/cafe@1 produced a non-finite logit"), error.toString());
        HttpResponse<String> response = router.post("/v1/chat/completions", chat("cafe", "[poisoned]", ""));
        assertError(response, 422, "invalid_request_error", "model", "adapter_quarantined");
        assertTrue(response.body().contains("this adapter version is quarantined"), response.body());
    }

    // --- disconnects ---

    @Test
    void aClientThatLeavesMidStreamCancelsTheNodeStream() throws Exception {
        HttpResponse<Stream<String>> response = router.stream("/v1/chat/completions", chat("cafe", "[slow]", "\"stream\":true"));
        assertEquals(200, response.statusCode());
        String id = response.headers().firstValue("x-request-id").orElseThrow();
        int chunks = 0;
        try (Stream<String> lines = response.body()) {
            Iterator<String> it = lines.iterator();
            while (chunks < 3 && it.hasNext()) {
                if (it.next().startsWith("data: ")) {
                    chunks++;
                }
            }
        } // closing the body stream closes the connection
        assertEquals(3, chunks);
        TestRouter.await(() -> router.node.cancelled.containsKey(id), Duration.ofSeconds(10), "the node's stream to be cancelled");
        awaitFinished(id, -1);
        assertTrue(router.tenants.finishedOf(id).get(0).tokens() >= FakeGpuNode.PROMPT_TOKENS + 2);
        Thread.sleep(300);
        assertEquals(1, router.tenants.finishedOf(id).size(), "still exactly one Finished");
    }

    @Test
    void aClientThatLeavesBeforeTheResponseStillCancelsTheNodeStream() throws Exception {
        String body = chat("cafe", "[late][slow]", "\"stream\":true");
        try (java.net.Socket socket = new java.net.Socket("127.0.0.1", router.base.getPort())) {
            socket.getOutputStream().write(("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + KEY
                    + "\r\nContent-Type: application/json\r\nContent-Length: " + body.getBytes(java.nio.charset.StandardCharsets.UTF_8).length
                    + "\r\n\r\n" + body).getBytes(java.nio.charset.StandardCharsets.UTF_8));
            socket.getOutputStream().flush();
            TestRouter.await(() -> router.node.generates.stream().anyMatch(g -> FakeGpuNode.promptText(g.prompt()).contains("[late]")),
                    Duration.ofSeconds(5), "the node to get the request");
        } // gone before the node's Started arrives
        String id = router.node.generates.stream().filter(g -> FakeGpuNode.promptText(g.prompt()).contains("[late]"))
                .findFirst().orElseThrow().requestId();
        TestRouter.await(() -> router.node.cancelled.containsKey(id), Duration.ofSeconds(15), "the orphaned stream to be cancelled");
        awaitFinished(id, -1);
    }

    // --- operations ---

    @Test
    void healthAndReadiness() {
        assertEquals(200, router.send("GET", "/health", null, null).statusCode());
        router.warmedUp.set(false);
        try {
            HttpResponse<String> notReady = router.send("GET", "/ready", null, null);
            assertEquals(503, notReady.statusCode());
            assertFalse(json(notReady.body()).get("warmed_up").asBoolean());
        } finally {
            router.warmedUp.set(true);
        }
        assertEquals(200, router.send("GET", "/ready", null, null).statusCode());
    }

    @Test
    void metricsInPrometheusFormat() {
        assertEquals(200, router.post("/v1/chat/completions", chat("cafe", "hi", "")).statusCode());
        TestRouter.await(() -> {
            String text = router.send("GET", "/metrics", METRICS_KEY, null).body();
            return text.contains("loraplex_router_requests_total{") && text.contains("loraplex_router_time_to_first_token_seconds_bucket")
                    && text.contains("loraplex_node_queue_depth{");
        }, Duration.ofSeconds(10), "the series in /metrics");
        HttpResponse<String> metrics = router.send("GET", "/metrics", METRICS_KEY, null);
        assertEquals(200, metrics.statusCode());
        assertTrue(metrics.headers().firstValue("Content-Type").orElse("").startsWith("text/plain"));
        String text = metrics.body();
        for (String series : List.of("loraplex_router_requests_total", "loraplex_router_prompt_tokens_total",
                "loraplex_router_completion_tokens_total", "loraplex_router_time_to_first_token_seconds",
                "loraplex_router_time_per_output_token_seconds", "loraplex_router_in_flight", "loraplex_node_queue_depth",
                "loraplex_node_resident_adapters")) {
            assertTrue(text.contains(series), series + " in\n" + text);
        }
        assertTrue(text.contains("tenant=\"acme\""), text);
        assertTrue(text.contains("model=\"cafe\""), text);
        assertTrue(text.contains("status=\"200\""), text);
        assertTrue(text.contains("node=\"node-1\""), text);
        assertTrue(text.contains("loraplex_router_time_to_first_token_seconds_bucket{tenant=\"acme\",le=\"60.0\"}"),
                "the router's own latency buckets");
    }

    @Test
    void metricsOnTheApiPortNeedTheMetricsKey() {
        HttpResponse<String> none = router.send("GET", "/metrics", null, null);
        assertError(none, 401, "invalid_request_error", null, "invalid_api_key");
        assertEquals("The metrics need the metrics key in an Authorization header (Bearer METRICS_KEY).",
                json(none.body()).at("/error/message").asText());
        // a tenant's own key does not show every tenant's series
        for (String other : List.of(KEY, "lp-metrics-guess-0123456789")) {
            HttpResponse<String> wrong = router.send("GET", "/metrics", other, null);
            assertError(wrong, 401, "invalid_request_error", null, "invalid_api_key");
            assertEquals("Incorrect metrics key provided.", json(wrong.body()).at("/error/message").asText());
            assertFalse(wrong.body().contains("tenant="), wrong.body());
        }
        assertEquals(200, router.send("GET", "/metrics", METRICS_KEY, null).statusCode());
    }
}
