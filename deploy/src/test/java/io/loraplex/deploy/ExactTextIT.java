package io.loraplex.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.typesafe.config.ConfigFactory;
import io.loraplex.cluster.TenantId;
import io.loraplex.engine.batch.EngineRequest;
import io.loraplex.engine.batch.GenerationListener;
import io.loraplex.engine.model.Architecture;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.TinyModel;
import io.loraplex.engine.request.PreparedRequest;
import io.loraplex.engine.request.Prompt;
import io.loraplex.engine.request.RequestParams;
import io.loraplex.engine.request.RequestPreparation;
import io.loraplex.engine.tokenizer.ChatMessage;
import io.loraplex.engine.tokenizer.ChatStyle;
import io.loraplex.engine.tokenizer.Tokenizer;
import io.loraplex.engine.tokenizer.TokenizerKind;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Exact text through the HTTP API on a SentencePiece-style (byte fallback, Llama 2) base, where
 * decoding generated tokens as a text of their own dropped the first token's leading space: the text
 * of the prompt's tokens plus the answer is the text of all tokens, for /v1/completions (text and token
 * ids) and chat, streaming and not. The byte-level base is checked in {@link EmbeddedServerIT}.
 */
class ExactTextIT {

    @TempDir
    static Path data;
    static EmbeddedServer server;
    static final HttpClient http = HttpClient.newHttpClient();
    static final ObjectMapper json = new ObjectMapper();
    static final String KEY = "lp-exact-text-test-key";
    static final String MODEL = "tiny-sentencepiece";

    @BeforeAll
    static void start() throws Exception {
        Path modelDir = data.resolve("sp-model");
        TinyModel.write(modelDir, new TinyModel.Spec(Architecture.LLAMA, 64, 2, 4, 2, null, 160, 1200, DType.F32, null, null, 512,
                null, 0, TokenizerKind.BYTE_FALLBACK, ChatStyle.LLAMA2, 1, 23));
        server = EmbeddedServer.start(data, modelDir, ConfigFactory.parseMap(Map.of("loraplex.router.port", 0, "loraplex.threads", 2,
                "loraplex.node.base-model-id", MODEL, "pekko.coordinated-shutdown.exit-jvm", "off",
                // a small arena: the ITs of this JVM share its heap
                "loraplex.engine.memory-budget-bytes", 64L << 20, "loraplex.engine.warm-budget-bytes", 64L << 20)), false, System.out);
        server.registerTenant(new TenantId("acme"), "acme", KEY, List.of());
    }

    @AfterAll
    static void stop() throws Exception {
        server.stop();
        server = null; // its engine's arena goes with it, not at the end of the JVM
    }

    /** The tokens the engine generates greedily after {@code prompt}, with the parameters the node would use. */
    static int[] generatedAlone(Prompt prompt, int maxTokens) throws Exception {
        PreparedRequest prepared = RequestPreparation.of(server.model(), 512).prepare(prompt, new RequestParams(0.0, null, null, null,
                null, null, null, Map.of(), null, maxTokens, List.of(), List.of(), true, false, 0));
        List<Integer> tokens = new CopyOnWriteArrayList<>();
        CompletableFuture<Void> done = new CompletableFuture<>();
        server.engine().submit(EngineRequest.generate("alone-" + System.nanoTime(), new TenantId("acme"), null, prepared.prompt(),
                prepared.params()), new GenerationListener() {
                    @Override
                    public void onToken(Token token) {
                        tokens.add(token.token());
                    }

                    @Override
                    public void onFinish(Completion completion) {
                        done.complete(null);
                    }
                });
        done.get(60, TimeUnit.SECONDS);
        return tokens.stream().mapToInt(Integer::intValue).toArray();
    }

    /** What the answer must be: the text of prompt and generated tokens, less the text of the prompt. */
    static String expected(int[] prompt, int[] generated) {
        Tokenizer tokenizer = server.model().tokenizer();
        String all = tokenizer.decode(IntStream.concat(Arrays.stream(prompt), Arrays.stream(generated)).toArray(), true);
        String promptText = tokenizer.decode(prompt, true);
        assertTrue(all.startsWith(promptText), all + " starts with " + promptText);
        return all.substring(promptText.length());
    }

    static HttpResponse<String> post(String path, String body) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(server.url() + path)).header("Authorization", "Bearer " + KEY)
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    /** The answer's text, from the body or from the SSE chunks' {@code pointer} fields. */
    static String answer(String path, String body, String pointer, boolean stream) throws Exception {
        HttpResponse<String> r = post(path, stream ? body.substring(0, body.length() - 1) + ", \"stream\": true}" : body);
        assertEquals(200, r.statusCode(), r.body());
        if (!stream) {
            return json.readTree(r.body()).at("/choices/0" + pointer).asText();
        }
        StringBuilder text = new StringBuilder();
        for (String line : r.body().split("\n")) {
            if (line.startsWith("data: {")) {
                JsonNode choices = json.readTree(line.substring(6)).get("choices");
                if (!choices.isEmpty() && !choices.get(0).at(pointer).isMissingNode()) {
                    text.append(choices.get(0).at(pointer).asText());
                }
            }
        }
        return text.toString();
    }

    @Test
    void aCompletionKeepsTheLeadingSpaceOfItsFirstTokenAndAddsUpToTheTextOfAllTokens() throws Exception {
        Tokenizer tokenizer = server.model().tokenizer();
        String promptText = "The cat sat on the";
        int[] prompt = tokenizer.encode(promptText, true);
        int[] wanted = tokenizer.encode(promptText + " mat", true);
        int mat = wanted[prompt.length];
        assertTrue(tokenizer.piece(mat).startsWith("▁"), tokenizer.piece(mat));
        // one token forced by logit_bias, so the answer's first token is one that starts a word
        String forced = answer("/v1/completions", "{\"model\": \"" + MODEL + "\", \"prompt\": " + Arrays.toString(prompt)
                + ", \"max_tokens\": 1, \"temperature\": 0, \"logit_bias\": {\"" + mat + "\": 100}, \"logprobs\": 0}", "/text", false);
        assertEquals(tokenizer.tokenText(mat), forced);
        assertTrue(forced.startsWith(" "), "'" + forced + "' keeps the space of " + tokenizer.piece(mat));
        HttpResponse<String> logprobs = post("/v1/completions", "{\"model\": \"" + MODEL + "\", \"prompt\": " + Arrays.toString(prompt)
                + ", \"max_tokens\": 1, \"temperature\": 0, \"logit_bias\": {\"" + mat + "\": 100}, \"logprobs\": 0}");
        assertEquals(forced, json.readTree(logprobs.body()).at("/choices/0/logprobs/tokens/0").asText(), "the logprobs' token");

        String expected = expected(prompt, generatedAlone(new Prompt.Text(promptText), 16));
        for (String promptJson : List.of(json.writeValueAsString(promptText), Arrays.toString(prompt))) {
            String body = "{\"model\": \"" + MODEL + "\", \"prompt\": " + promptJson + ", \"temperature\": 0, \"max_tokens\": 16, "
                    + "\"ignore_eos\": true}";
            assertEquals(expected, answer("/v1/completions", body, "/text", false), promptJson);
            assertEquals(expected, answer("/v1/completions", body, "/text", true), "streamed, " + promptJson);
        }
    }

    @Test
    void aChatAnswerAddsUpToTheTextOfAllTokensStreamingAndNot() throws Exception {
        List<ChatMessage> messages = List.of(new ChatMessage("user", "Where is the harbour?"));
        int[] prompt = RequestPreparation.of(server.model(), 512).tokens(new Prompt.Chat(messages));
        String expected = expected(prompt, generatedAlone(new Prompt.Chat(messages), 16));
        String body = "{\"model\": \"" + MODEL + "\", \"messages\": [{\"role\": \"user\", \"content\": \"Where is the harbour?\"}], "
                + "\"temperature\": 0, \"max_tokens\": 16, \"ignore_eos\": true}";
        assertEquals(expected, answer("/v1/chat/completions", body, "/message/content", false));
        assertEquals(expected, answer("/v1/chat/completions", body, "/delta/content", true));
    }
}
