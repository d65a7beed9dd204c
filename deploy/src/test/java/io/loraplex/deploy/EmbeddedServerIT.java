package io.loraplex.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.typesafe.config.ConfigFactory;
import io.loraplex.cluster.AdapterRef;
import io.loraplex.cluster.ContentHash;
import io.loraplex.cluster.TenantId;
import io.loraplex.engine.batch.EngineStats;
import io.loraplex.engine.lora.AdapterWriter;
import io.loraplex.engine.lora.TargetModule;
import io.loraplex.engine.model.DType;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The embedded server in this JVM, so the engine's memory can be inspected: tenants with adapters
 * of the same name, concurrent clients on different adapters, and clients that disconnect.
 */
class EmbeddedServerIT {

    @TempDir
    static Path data;
    static EmbeddedServer server;
    static final HttpClient http = HttpClient.newHttpClient();
    static final ObjectMapper json = new ObjectMapper();
    static final Map<String, String> keys = Map.of("alpha", "lp-alpha-test-key", "beta", "lp-beta-test-key", "gamma",
            "lp-gamma-test-key");

    @BeforeAll
    static void start() throws Exception {
        server = EmbeddedServer.start(data, null, ConfigFactory.parseMap(Map.of("loraplex.router.port", 0, "loraplex.threads", 2,
                "pekko.coordinated-shutdown.exit-jvm", "off", "pekko.actor.serialize-messages", "on")),
                false, System.out);
        long seed = 1;
        for (String tenant : List.of("alpha", "beta", "gamma")) {
            List<AdapterRef> refs = new ArrayList<>();
            // every tenant has an adapter called "support"; alpha and gamma have a second one
            for (String name : tenant.equals("beta") ? List.of("support") : List.of("support", "sales")) {
                Path staged = data.resolve("staged-" + tenant + "-" + name);
                AdapterWriter.writeRandom(staged, server.model().model().config(), EnumSet.allOf(TargetModule.class), 8, 16, false,
                        DType.F32, seed++);
                ContentHash hash = ContentHash.ofDirectory(staged);
                Path target = server.adapterRoot().resolve(tenant).resolve(hash.hex());
                Files.createDirectories(target.getParent());
                Files.move(staged, target);
                refs.add(new AdapterRef(new TenantId(tenant), name, 1, hash));
            }
            server.registerTenant(new TenantId(tenant), tenant, keys.get(tenant), refs);
        }
    }

    @AfterAll
    static void stop() throws Exception {
        server.stop();
    }

    static String chat(String tenant, String model, String content, int maxTokens) throws Exception {
        HttpResponse<String> r = http.send(request(tenant, "{\"model\": \"" + model + "\", \"temperature\": 0, \"max_tokens\": " + maxTokens
                + ", \"messages\": [{\"role\": \"user\", \"content\": \"" + content + "\"}]}"), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), r.body());
        return json.readTree(r.body()).at("/choices/0/message/content").asText();
    }

    static HttpRequest request(String tenant, String body) {
        return HttpRequest.newBuilder(URI.create(server.url() + "/v1/chat/completions"))
                .header("Authorization", "Bearer " + keys.get(tenant)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build();
    }

    @Test
    void tenantsWithAdaptersOfTheSameNameGetTheirOwn() throws Exception {
        String alpha = chat("alpha", "support", "Where is my order?", 16);
        String beta = chat("beta", "support", "Where is my order?", 16);
        String base = chat("alpha", EmbeddedServer.DEMO_MODEL_ID, "Where is my order?", 16);
        assertNotEquals(alpha, beta, "alpha's 'support' and beta's 'support' are different adapters");
        assertNotEquals(alpha, base);
        assertEquals(alpha, chat("alpha", "support", "Where is my order?", 16), "greedy: the same answer again");
        assertEquals(beta, chat("beta", "support", "Where is my order?", 16));
        HttpResponse<String> foreign = http.send(request("beta", "{\"model\": \"sales\", \"messages\": [{\"role\": \"user\", "
                + "\"content\": \"hi\"}]}"), HttpResponse.BodyHandlers.ofString());
        assertEquals(404, foreign.statusCode(), "beta's key never reaches alpha's or gamma's 'sales'");
    }

    @Test
    void concurrentClientsOnDifferentAdaptersGetWhatTheyGetAlone() throws Exception {
        record Call(String tenant, String model, String prompt) {
        }
        List<Call> calls = new ArrayList<>();
        for (String tenant : List.of("alpha", "beta", "gamma")) {
            for (String model : tenant.equals("beta") ? List.of("support", EmbeddedServer.DEMO_MODEL_ID) : List.of("support", "sales")) {
                calls.add(new Call(tenant, model, "Tell me about " + tenant + " and " + model));
                calls.add(new Call(tenant, model, "A different question, " + model + "?"));
            }
        }
        List<String> alone = new ArrayList<>();
        for (Call c : calls) {
            alone.add(chat(c.tenant, c.model, c.prompt, 20));
        }
        List<CompletableFuture<String>> together = new ArrayList<>();
        for (Call c : calls) {
            together.add(CompletableFuture.supplyAsync(() -> {
                try {
                    return chat(c.tenant, c.model, c.prompt, 20);
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            }));
        }
        for (int i = 0; i < calls.size(); i++) {
            assertEquals(alone.get(i), together.get(i).join(), "call " + calls.get(i) + " concurrently vs alone");
        }
    }

    @Test
    void aClientThatDisconnectsMidStreamFreesItsBlocks() throws Exception {
        EngineStats before = idle();
        // the first request on 'sales' makes it hot (its pages stay); everything else must come back
        int available = before.freePages() + before.idleCachedBlocks() + before.adapterPages();
        HttpResponse<InputStream> r = http.send(request("gamma", "{\"model\": \"sales\", \"stream\": true, \"max_tokens\": 2000, "
                + "\"ignore_eos\": true, \"messages\": [{\"role\": \"user\", \"content\": \"go on forever\"}]}"),
                HttpResponse.BodyHandlers.ofInputStream());
        assertEquals(200, r.statusCode());
        InputStream body = r.body();
        byte[] some = body.readNBytes(600); // a few chunks
        assertTrue(new String(some).contains("data: "));
        assertTrue(server.engine().stats().running() > 0 || server.engine().stats().waiting() > 0, "the generation is running");
        body.close(); // the client goes away
        EngineStats after = idle();
        assertEquals(available, after.freePages() + after.idleCachedBlocks() + after.adapterPages(), "blocks back to baseline: " + after);
        assertTrue(after.generatedTokens() - before.generatedTokens() < 2000, "the generation stopped early");
    }

    static EngineStats idle() throws InterruptedException {
        long until = System.nanoTime() + 30_000_000_000L;
        while (server.engine().stats().running() > 0 || server.engine().stats().waiting() > 0) {
            assertTrue(System.nanoTime() < until, "the engine never went idle: " + server.engine().stats());
            Thread.sleep(20);
        }
        Thread.sleep(100);
        return server.engine().stats();
    }

    /** The tokens the engine generates greedily after {@code prompt}, with the parameters the node would use. */
    static int[] generatedAlone(int[] prompt, int maxTokens) throws Exception {
        io.loraplex.engine.request.PreparedRequest prepared = io.loraplex.engine.request.RequestPreparation.of(server.model(), 512)
                .prepare(new io.loraplex.engine.request.Prompt.Tokens(prompt), new io.loraplex.engine.request.RequestParams(0.0, null,
                        null, null, null, null, null, Map.of(), null, maxTokens, List.of(), List.of(), true, false, 0));
        List<Integer> tokens = new java.util.concurrent.CopyOnWriteArrayList<>();
        CompletableFuture<Void> done = new CompletableFuture<>();
        server.engine().submit(io.loraplex.engine.batch.EngineRequest.generate("exact-text-" + System.nanoTime(), new TenantId("alpha"),
                null, prepared.prompt(), prepared.params()), new io.loraplex.engine.batch.GenerationListener() {
                    @Override
                    public void onToken(Token token) {
                        tokens.add(token.token());
                    }

                    @Override
                    public void onFinish(Completion completion) {
                        done.complete(null);
                    }
                });
        done.get(60, java.util.concurrent.TimeUnit.SECONDS);
        return tokens.stream().mapToInt(Integer::intValue).toArray();
    }

    static HttpResponse<String> completion(String body) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(server.url() + "/v1/completions"))
                .header("Authorization", "Bearer " + keys.get("alpha")).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void promptTextPlusCompletionTextIsTheTextOfPromptAndGeneratedTokensStreamingAndNot() throws Exception {
        io.loraplex.engine.tokenizer.Tokenizer tokenizer = server.model().tokenizer();
        String promptText = "The cat sat on the";
        int[] prompt = tokenizer.encode(promptText, true);
        int[] generated = generatedAlone(prompt, 12);
        int[] all = java.util.stream.IntStream.concat(java.util.Arrays.stream(prompt), java.util.Arrays.stream(generated)).toArray();
        String expected = tokenizer.decode(all, true).substring(tokenizer.decode(prompt, true).length());
        assertTrue(tokenizer.decode(all, true).startsWith(tokenizer.decode(prompt, true)));
        String ids = java.util.Arrays.toString(prompt);
        for (String promptJson : List.of(json.writeValueAsString(promptText), ids)) {
            String body = "{\"model\": \"" + EmbeddedServer.DEMO_MODEL_ID + "\", \"prompt\": " + promptJson
                    + ", \"temperature\": 0, \"max_tokens\": 12, \"ignore_eos\": true";
            HttpResponse<String> r = completion(body + "}");
            assertEquals(200, r.statusCode(), r.body());
            assertEquals(expected, json.readTree(r.body()).at("/choices/0/text").asText(), "prompt " + promptJson);
            assertEquals(prompt.length, json.readTree(r.body()).at("/usage/prompt_tokens").asInt(), "prompt " + promptJson);

            HttpResponse<String> streamed = completion(body + ", \"stream\": true}");
            assertEquals(200, streamed.statusCode(), streamed.body());
            StringBuilder text = new StringBuilder();
            for (String line : streamed.body().split("\n")) {
                if (line.startsWith("data: {")) {
                    JsonNode choices = json.readTree(line.substring(6)).get("choices");
                    if (choices.size() > 0) {
                        text.append(choices.get(0).get("text").asText());
                    }
                }
            }
            assertEquals(expected, text.toString(), "streamed, prompt " + promptJson);
        }
    }

    @Test
    void aTokenIdOutsideTheVocabularyIsRefusedNamingPromptTheIdAndTheVocabularySize() throws Exception {
        int vocab = server.model().tokenizer().vocabSize();
        HttpResponse<String> r = completion("{\"model\": \"" + EmbeddedServer.DEMO_MODEL_ID + "\", \"prompt\": [[1, 2], [3, " + vocab
                + "]]}");
        assertEquals(400, r.statusCode(), r.body());
        JsonNode error = json.readTree(r.body()).get("error");
        assertEquals("prompt", error.get("param").asText());
        assertEquals("'prompt' holds token id " + vocab + " at position 1, outside the vocabulary of " + EmbeddedServer.DEMO_MODEL_ID
                + " (ids 0 to " + (vocab - 1) + ", vocabulary size " + vocab + ")", error.get("message").asText());
    }
}
