package io.loraplex.engine.request;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraplex.engine.ServedModel;
import io.loraplex.engine.model.Architecture;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.TinyModel;
import io.loraplex.engine.request.RequestRefusal.Code;
import io.loraplex.engine.sample.GenerationDefaults;
import io.loraplex.engine.sample.SamplingParams;
import io.loraplex.engine.tokenizer.ChatMessage;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** The one request preparation: prompts to tokens, parameters to SamplingParams, each refusal typed and named. */
class RequestPreparationTest {

    /** The tiny model's context: prompt and output together. */
    static final int CONTEXT = 64;

    @TempDir
    static Path dir;
    static ServedModel model;
    static RequestPreparation preparation;

    @BeforeAll
    static void load() throws Exception {
        Path modelDir = dir.resolve("model");
        TinyModel.write(modelDir, new TinyModel.Spec(Architecture.LLAMA, 64, 2, 4, 2, null, 160, 600, DType.F32, null, null, CONTEXT,
                null, 0, null, null, 1, 5));
        model = ServedModel.load(modelDir, "tiny");
        preparation = RequestPreparation.of(model, 20);
    }

    @AfterAll
    static void close() {
        model.close();
    }

    /** Every parameter unset but the one {@code change} sets. */
    private static RequestParams with(UnaryOperator<Params> change) {
        return change.apply(new Params()).build();
    }

    /** A mutable stand-in for RequestParams' many nullable fields, so a case names only what it sets. */
    static final class Params {
        Double temperature;
        Integer topK;
        Double topP;
        Double minP;
        Double repetitionPenalty;
        Double presencePenalty;
        Double frequencyPenalty;
        Map<Integer, Double> logitBias = Map.of();
        Long seed;
        Integer maxTokens;
        List<String> stop = List.of();
        List<Integer> stopTokenIds = List.of();
        boolean logprobs;
        int topLogprobs;

        Params set(java.util.function.Consumer<Params> c) {
            c.accept(this);
            return this;
        }

        RequestParams build() {
            return new RequestParams(temperature, topK, topP, minP, repetitionPenalty, presencePenalty, frequencyPenalty, logitBias,
                    seed, maxTokens, stop, stopTokenIds, false, logprobs, topLogprobs);
        }
    }

    @Test
    void anUnsupportedSchemaKeywordIsRefusedAsResponseFormatNamingTheKeyword() {
        RequestRefusal r = assertThrows(RequestRefusal.class, () -> preparation.prepare(new Prompt.Text("hi"), RequestParams.defaults(),
                new OutputFormat.JsonSchema("{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"minLength\":2}}}")));
        assertEquals(Code.INVALID_VALUE, r.code());
        assertEquals("response_format", r.param());
        assertEquals("the schema keyword 'minLength' (at $.properties.name) is not supported in response_format; supported: "
                + "$defs, $ref, additionalProperties, anyOf, const, definitions, enum, items, maxItems, minItems, pattern, properties, "
                + "required, type", r.getMessage());
    }

    @Test
    void aSchemaIsCompiledOnceAndSharedByTheRequestsNamingIt() {
        String schema = "{\"type\":\"object\",\"properties\":{\"ok\":{\"type\":\"boolean\"}},\"required\":[\"ok\"]}";
        PreparedRequest a = preparation.prepare(new Prompt.Text("hi"), RequestParams.defaults(), new OutputFormat.JsonSchema(schema));
        PreparedRequest b = preparation.prepare(new Prompt.Text("ho"), RequestParams.defaults(), new OutputFormat.JsonSchema(schema));
        assertTrue(a.params().constraint() != null && a.params().constraint() == b.params().constraint());
        assertNull(preparation.prepare(new Prompt.Text("hi"), RequestParams.defaults(), null).params().constraint());
    }

    @Test
    void aTextPromptIsTokenizedWithTheTokenizersSpecialTokens() {
        PreparedRequest p = preparation.prepare(new Prompt.Text("hello world"), RequestParams.defaults());
        assertArrayEquals(model.tokenizer().encode("hello world", true), p.prompt());
    }

    @Test
    void tokenIdsAreRunAsGivenWithoutAddedSpecialTokens() {
        int[] ids = model.tokenizer().encode("hello world", false);
        PreparedRequest p = preparation.prepare(new Prompt.Tokens(ids), RequestParams.defaults());
        assertArrayEquals(ids, p.prompt());
        int last = model.tokenizer().vocabSize() - 1;
        assertArrayEquals(new int[] {0, last}, preparation.prepare(new Prompt.Tokens(new int[] {0, last}), RequestParams.defaults())
                .prompt(), "the vocabulary's first and last ids");
    }

    @Test
    void aTokenIdOutsideTheVocabularyIsRefusedNamingPromptTheIdAndTheVocabularySize() {
        int vocab = model.tokenizer().vocabSize();
        RequestRefusal r = assertThrows(RequestRefusal.class,
                () -> preparation.prepare(new Prompt.Tokens(new int[] {1, 2, vocab}), RequestParams.defaults()));
        assertEquals(Code.INVALID_VALUE, r.code());
        assertEquals("prompt", r.param());
        assertEquals("'prompt' holds token id " + vocab + " at position 2, outside the vocabulary of tiny (ids 0 to " + (vocab - 1)
                + ", vocabulary size " + vocab + ")", r.getMessage());
        RequestRefusal negative = assertThrows(RequestRefusal.class,
                () -> preparation.prepare(new Prompt.Tokens(new int[] {-1}), RequestParams.defaults()));
        assertEquals("prompt", negative.param());
        assertTrue(negative.getMessage().contains("token id -1 at position 0"), negative.getMessage());
    }

    @Test
    void anEmptyTokenPromptIsRefusedNamingPrompt() {
        RequestRefusal r = assertThrows(RequestRefusal.class,
                () -> preparation.prepare(new Prompt.Tokens(new int[0]), RequestParams.defaults()));
        assertEquals("prompt", r.param());
        assertEquals("the prompt is empty", r.getMessage());
    }

    @Test
    void chatMessagesAreRenderedWithTheBasesChatTemplate() {
        List<ChatMessage> messages = List.of(new ChatMessage("user", "hello"));
        PreparedRequest p = preparation.prepare(new Prompt.Chat(messages), RequestParams.defaults());
        String rendered = model.chatTemplate().orElseThrow().render(messages, true);
        assertArrayEquals(model.tokenizer().encode(rendered, false), p.prompt());
    }

    @ParameterizedTest(name = "{1}")
    @MethodSource("badParameters")
    void refusesEachBadParameterNamingIt(UnaryOperator<Params> change, String param, String message) {
        RequestRefusal r = assertThrows(RequestRefusal.class, () -> preparation.prepare(new Prompt.Text("hi"), with(change)));
        assertEquals(Code.INVALID_VALUE, r.code());
        assertEquals(param, r.param());
        assertEquals(message, r.getMessage());
    }

    static Stream<Arguments> badParameters() {
        return Stream.of(
                bad(p -> p.set(x -> x.temperature = 5.0), "temperature", "temperature must be between 0 and 2 (0 = greedy), got 5.0"),
                bad(p -> p.set(x -> x.temperature = Double.NaN), "temperature",
                        "temperature must be between 0 and 2 (0 = greedy), got NaN"),
                bad(p -> p.set(x -> x.topK = -2), "top_k", "top_k must be 0 or -1 (off) or at least 1, got -2"),
                bad(p -> p.set(x -> x.topP = 0.0), "top_p", "top_p must be greater than 0 and at most 1, got 0.0"),
                bad(p -> p.set(x -> x.minP = 1.5), "min_p", "min_p must be between 0 and 1, got 1.5"),
                bad(p -> p.set(x -> x.repetitionPenalty = 101.0), "repetition_penalty",
                        "repetition_penalty must be greater than 0 and at most 100 (1 = off), got 101.0"),
                bad(p -> p.set(x -> x.presencePenalty = 2.5), "presence_penalty", "presence_penalty must be between -2 and 2, got 2.5"),
                bad(p -> p.set(x -> x.frequencyPenalty = -3.0), "frequency_penalty",
                        "frequency_penalty must be between -2 and 2, got -3.0"),
                bad(p -> p.set(x -> x.logitBias = Map.of(5, 100.5)), "logit_bias.5",
                        "logit_bias for token 5 must be between -100 and 100, got 100.5"),
                bad(p -> p.set(x -> x.logitBias = Map.of(-1, 1.0)), "logit_bias", "logit_bias keys must be token ids of at least 0, got -1"),
                bad(p -> p.set(x -> x.maxTokens = 0), "max_tokens", "max_tokens must be at least 1, got 0"),
                bad(p -> p.set(x -> x.stop = Collections.nCopies(17, "x")), "stop", "stop may hold at most 16 strings, got 17"),
                bad(p -> p.set(x -> x.stop = Arrays.asList("ok", "")), "stop[1]", "stop[1] must be a non-empty string, got \"\""),
                bad(p -> p.set(x -> x.stopTokenIds = List.of(3, -7)), "stop_token_ids",
                        "stop_token_ids must hold token ids of at least 0, got -7"),
                bad(p -> p.set(x -> {
                    x.logprobs = true;
                    x.topLogprobs = 21;
                }), "top_logprobs", "top_logprobs must be between 0 and 20, got 21"));
    }

    private static Arguments bad(UnaryOperator<Params> change, String param, String message) {
        return Arguments.of(change, param, message);
    }

    @Test
    void aPromptThatFillsTheContextIsRefusedAsContextLengthExceededNamingMessages() {
        String longText = "word ".repeat(200);
        RequestRefusal r = assertThrows(RequestRefusal.class, () -> preparation.prepare(new Prompt.Text(longText),
                RequestParams.defaults()));
        assertEquals(Code.CONTEXT_LENGTH_EXCEEDED, r.code());
        assertEquals("messages", r.param());
        assertTrue(r.getMessage().startsWith("This model's maximum context length is 64 tokens. However, your messages resulted in "),
                r.getMessage());
    }

    @Test
    void maxTokensBeyondTheContextIsRefusedAsContextLengthExceededNamingMaxTokens() {
        int prompt = model.tokenizer().encode("hi", true).length;
        RequestRefusal r = assertThrows(RequestRefusal.class, () -> preparation.prepare(new Prompt.Text("hi"),
                with(p -> p.set(x -> x.maxTokens = CONTEXT))));
        assertEquals(Code.CONTEXT_LENGTH_EXCEEDED, r.code());
        assertEquals("max_tokens", r.param());
        assertEquals("This model's maximum context length is 64 tokens. However, you requested " + (prompt + CONTEXT) + " tokens ("
                + prompt + " in the messages, 64 in the completion). Please reduce the length of the messages or completion.",
                r.getMessage());
    }

    @Test
    void emptyMessagesAnEmptyPromptAndAModelWithoutChatTemplateAreRefusedNamingThePrompt() {
        RequestRefusal none = assertThrows(RequestRefusal.class, () -> preparation.prepare(new Prompt.Chat(List.of()),
                RequestParams.defaults()));
        assertEquals("messages", none.param());
        assertEquals("messages must not be empty", none.getMessage());

        RequestPreparation noTemplate = new RequestPreparation("plain", model.tokenizer(), null, GenerationDefaults.NONE, CONTEXT, 20);
        RequestRefusal template = assertThrows(RequestRefusal.class, () -> noTemplate.prepare(
                new Prompt.Chat(List.of(new ChatMessage("user", "hi"))), RequestParams.defaults()));
        assertEquals(Code.INVALID_VALUE, template.code());
        assertEquals("messages", template.param());
        assertEquals("the base model plain has no chat template; use /v1/completions", template.getMessage());

    }

    @Test
    void anEmptyPromptIsRefusedNamingThePrompt() throws Exception {
        // qwen2's tokenizer adds no BOS, so empty text gives no tokens at all
        Path qwenDir = dir.resolve("qwen");
        TinyModel.write(qwenDir, new TinyModel.Spec(Architecture.QWEN2, 64, 2, 4, 2, null, 160, 600, DType.F32, null, null, CONTEXT,
                null, 0, null, null, 1, 5));
        try (ServedModel qwen = ServedModel.load(qwenDir, "qwen")) {
            RequestRefusal empty = assertThrows(RequestRefusal.class, () -> RequestPreparation.of(qwen, 20).prepare(
                    new Prompt.Text(""), RequestParams.defaults()));
            assertEquals(Code.INVALID_VALUE, empty.code());
            assertEquals("prompt", empty.param());
            assertEquals("the prompt is empty", empty.getMessage());
        }
    }

    @Test
    void theLengthFallsBackFromTheRequestToTheModelToTheCallersDefaultWithinTheContext() {
        int prompt = model.tokenizer().encode("hi", true).length;
        assertEquals(7, preparation.prepare(new Prompt.Text("hi"), with(p -> p.set(x -> x.maxTokens = 7))).params().maxTokens());
        assertEquals(20, preparation.prepare(new Prompt.Text("hi"), RequestParams.defaults()).params().maxTokens(),
                "the caller's default when neither the request nor the model says");

        GenerationDefaults modelSays = new GenerationDefaults(0.6, 0.9, null, null, null, 30);
        RequestPreparation withConfig = new RequestPreparation("tiny", model.tokenizer(), null, modelSays, CONTEXT, 20);
        SamplingParams fromModel = withConfig.prepare(new Prompt.Text("hi"), RequestParams.defaults()).params();
        assertEquals(30, fromModel.maxTokens(), "the model's max_new_tokens before the caller's default");
        assertEquals(0.6, fromModel.temperature());
        assertFalse(fromModel.isSet(SamplingParams.Field.TEMPERATURE), "the model's choice, not the caller's");
        assertEquals(1.5, withConfig.prepare(new Prompt.Text("hi"), with(p -> p.set(x -> x.temperature = 1.5))).params().temperature(),
                "the request's value before the model's");

        RequestPreparation large = new RequestPreparation("tiny", model.tokenizer(), null, GenerationDefaults.NONE, CONTEXT, 1000);
        assertEquals(CONTEXT - prompt, large.prepare(new Prompt.Text("hi"), RequestParams.defaults()).params().maxTokens(),
                "a default beyond the context is cut to what the prompt leaves");
        RequestPreparation longModel = new RequestPreparation("tiny", model.tokenizer(), null,
                new GenerationDefaults(null, null, null, null, null, 1000), CONTEXT, 20);
        assertEquals(CONTEXT - prompt, longModel.prepare(new Prompt.Text("hi"), RequestParams.defaults()).params().maxTokens(),
                "so is the model's max_new_tokens");
    }

    @Test
    void topLogprobsAreReadOnlyWhenLogprobsAreAsked() {
        SamplingParams without = preparation.prepare(new Prompt.Text("hi"), with(p -> p.set(x -> x.topLogprobs = 3))).params();
        assertFalse(without.logprobs());
        assertEquals(0, without.topLogprobs());
        SamplingParams with = preparation.prepare(new Prompt.Text("hi"), with(p -> p.set(x -> {
            x.logprobs = true;
            x.topLogprobs = 3;
        }))).params();
        assertTrue(with.logprobs());
        assertEquals(3, with.topLogprobs());
        assertNull(with.seed());
    }
}
