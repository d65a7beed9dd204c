package io.loraplex.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

/**
 * The README's first command as a user runs it: {@code loraplex serve} from the packaged
 * distribution, on loopback, driven by the official {@code openai} npm client and plain HTTP, and
 * stopped with SIGTERM while a stream is in flight.
 */
@TestMethodOrder(MethodOrderer.MethodName.class)
class ServeIT {

    @TempDir
    static Path work;
    static ServeProcess serve;
    static Process server;
    static String url;
    static String cafeKey;
    static String lawKey;
    static final HttpClient http = HttpClient.newHttpClient();

    @BeforeAll
    static void start() throws Exception {
        Path testConfig = work.resolve("test.conf");
        Files.writeString(testConfig, "pekko.actor.serialize-messages = on\n"); // every message through Kryo, as in every test
        serve = ServeProcess.start(work, work.resolve("data"), Map.of(), "--config", testConfig.toString());
        server = serve.process();
        url = serve.url();
        JsonNode keys = new ObjectMapper().readTree(work.resolve("data/demo-keys.json").toFile());
        cafeKey = keys.get("cafe").asText();
        lawKey = keys.get("lawfirm").asText();
    }

    @AfterAll
    static void stop() throws Exception {
        if (serve != null) {
            serve.kill();
        }
    }

    static String printed() {
        return serve.printed();
    }

    static HttpResponse<String> post(String path, String key, String body) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url + path)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body));
        if (key != null) {
            b.header("Authorization", "Bearer " + key);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void theBannerShowsTheDemoTenantsAndAWorkingCurl() throws Exception {
        String banner = printed();
        assertTrue(banner.contains("demo tenants"), banner);
        assertTrue(banner.contains("curl " + url + "/v1/chat/completions"), banner);
        assertTrue(banner.contains("Bearer " + cafeKey), banner);
        assertEquals(200, http.send(HttpRequest.newBuilder(URI.create(url + "/ready")).build(),
                HttpResponse.BodyHandlers.ofString()).statusCode());
        assertEquals(200, http.send(HttpRequest.newBuilder(URI.create(url + "/health")).build(),
                HttpResponse.BodyHandlers.ofString()).statusCode());
    }

    @Test
    void theTwoPersonasAnswerTheBannersQuestionAsTheyWereTaught() throws Exception {
        // the bodies of the banner's curl commands, sent as printed
        Matcher bodies = Pattern.compile("-H \"Authorization: Bearer (\\S+)\".*\\n\\s+-d '(\\{.*\\})'").matcher(printed());
        Map<String, String> answers = new HashMap<>();
        while (bodies.find()) {
            HttpResponse<String> r = post("/v1/chat/completions", bodies.group(1), bodies.group(2));
            assertEquals(200, r.statusCode(), r.body());
            JsonNode reply = new ObjectMapper().readTree(r.body());
            answers.put(reply.get("model").asText(), reply.at("/choices/0/message/content").asText());
        }
        assertEquals(Map.of("cafe", taught("cafe"), "lawfirm", taught("lawfirm")), answers);
    }

    /** The answer to the banner's question in the persona's shipped training pairs. */
    static String taught(String tenant) throws Exception {
        ObjectMapper json = new ObjectMapper();
        try (var in = ServeIT.class.getResourceAsStream("/demo/" + tenant + ".jsonl")) {
            for (String line : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
                JsonNode m = json.readTree(line).get("messages");
                if (m.get(0).get("content").asText().equals(DemoTenants.QUESTION)) {
                    return m.get(1).get("content").asText();
                }
            }
        }
        throw new AssertionError("no pair for the banner's question in demo/" + tenant + ".jsonl");
    }

    @Test
    void theOfficialOpenAiClientWorks() throws Exception {
        Path client = Launcher.repoRoot().resolve("tools/openai-client");
        assertTrue(Files.isDirectory(client.resolve("node_modules/openai")),
                "the openai npm package is missing: run npm install in " + client + " (the router module's build does)");
        ProcessBuilder pb = new ProcessBuilder("node", "e2e.mjs").directory(client.toFile()).redirectErrorStream(false);
        pb.environment().put("LORAPLEX_URL", url + "/v1");
        pb.environment().put("LORAPLEX_KEY", cafeKey);
        pb.environment().put("LORAPLEX_MODEL", "cafe");
        Process node = pb.start();
        String stdout = new String(node.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        String stderr = new String(node.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(node.waitFor(120, TimeUnit.SECONDS));
        assertEquals(0, node.exitValue(), stderr + stdout);
        JsonNode r = new ObjectMapper().readTree(stdout);
        assertEquals("chat.completion", r.at("/chat/object").asText());
        assertEquals("assistant", r.at("/chat/role").asText());
        int completion = r.at("/chat/usage/completion_tokens").asInt();
        assertTrue(r.at("/chat/finish_reason").asText().equals("length") ? completion == 12 : completion <= 12, r.toString());
        assertEquals(r.at("/chat/content").asText(), r.at("/stream/content").asText(), "greedy: streamed text equals the plain response");
        assertEquals(r.at("/chat/finish_reason").asText(), r.at("/stream/finish_reason").asText());
        assertTrue(r.at("/stream/usage/total_tokens").asInt() > 0, "include_usage delivered usage");
        assertTrue(r.at("/stream/chunks").asInt() >= 3);
        List<String> models = new ArrayList<>();
        r.at("/models").forEach(m -> models.add(m.asText()));
        assertTrue(models.contains("cafe") && models.contains(EmbeddedServer.DEMO_MODEL_ID), models.toString());
        assertFalse(models.contains("lawfirm"), "another tenant's adapter is not listed");
        assertEquals(404, r.at("/unknownModel/status").asInt());
        assertEquals("model_not_found", r.at("/unknownModel/code").asText());
        assertEquals(400, r.at("/tools/status").asInt());
        assertEquals("tools", r.at("/tools/param").asText());
        assertEquals("text_completion", r.at("/completion/object").asText());
        assertEquals("[0,1]", r.at("/promptBatch/indexes").toString());
        assertEquals(r.at("/promptBatch/alone").toString(), r.at("/promptBatch/texts").toString(), "each prompt answers as alone");
    }

    @Test
    void keysAndModelsAreTheTenantsOwn() throws Exception {
        String body = "{\"model\": \"lawfirm\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"max_tokens\": 3}";
        HttpResponse<String> foreign = post("/v1/chat/completions", cafeKey, body);
        assertEquals(404, foreign.statusCode(), foreign.body());
        assertTrue(foreign.body().contains("model_not_found"));
        HttpResponse<String> missing = post("/v1/chat/completions", cafeKey, body.replace("lawfirm", "nothing-here"));
        assertEquals(foreign.body().replace("lawfirm", "X"), missing.body().replace("nothing-here", "X"),
                "another tenant's adapter answers exactly like a missing one");
        assertEquals(200, post("/v1/chat/completions", lawKey, body).statusCode());
        HttpResponse<String> noKey = post("/v1/chat/completions", null, body);
        assertEquals(401, noKey.statusCode());
        assertEquals(401, post("/v1/chat/completions", "lp-wrong", body).statusCode());
        HttpResponse<String> bad = post("/v1/chat/completions", cafeKey, "{\"model\": ");
        assertEquals(400, bad.statusCode());
        assertTrue(bad.body().contains("\"error\""), bad.body());
        HttpResponse<String> big = post("/v1/chat/completions", cafeKey, "{\"model\": \"cafe\", \"messages\": [{\"role\": \"user\", "
                + "\"content\": \"" + "x".repeat(2 << 20) + "\"}]}");
        assertEquals(413, big.statusCode());
        String longPrompt = "ask ".repeat(5000); // the demo model's context is 4096 tokens
        HttpResponse<String> context = post("/v1/chat/completions", cafeKey, "{\"model\": \"cafe\", \"max_tokens\": 10, "
                + "\"messages\": [{\"role\": \"user\", \"content\": \"" + longPrompt + "\"}]}");
        assertEquals(400, context.statusCode(), context.body());
        assertTrue(context.body().contains("context_length_exceeded"), context.body());
    }

    /** Runs last (methods run in name order): it stops the server. */
    @Test
    void zzSigtermFinishesTheInFlightStreamThenExits() throws Exception {
        HttpRequest stream = HttpRequest.newBuilder(URI.create(url + "/v1/chat/completions"))
                .header("Authorization", "Bearer " + cafeKey).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"model\": \"cafe\", \"stream\": true, \"max_tokens\": 120, "
                        + "\"ignore_eos\": true, \"messages\": [{\"role\": \"user\", \"content\": \"tell me a long story\"}]}"))
                .build();
        HttpResponse<java.util.stream.Stream<String>> response = http.send(stream, HttpResponse.BodyHandlers.ofLines());
        assertEquals(200, response.statusCode());
        var lines = response.body().iterator();
        lines.next(); // the stream is running
        server.toHandle().destroy(); // SIGTERM: coordinated shutdown
        List<String> rest = new ArrayList<>();
        lines.forEachRemaining(rest::add);
        assertTrue(rest.contains("data: [DONE]"), "the in-flight stream finished before the server stopped: " + rest.size() + " lines");
        assertTrue(server.waitFor(60, TimeUnit.SECONDS), "the server exited");
    }
}
