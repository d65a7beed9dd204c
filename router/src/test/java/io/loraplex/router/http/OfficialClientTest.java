package io.loraplex.router.http;

import static io.loraplex.router.testkit.TestRouter.json;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.loraplex.router.testkit.FakeGpuNode;
import io.loraplex.router.testkit.TestRouter;
import java.io.File;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * The official OpenAI Node SDK against the router: what a stock client sees. Needs {@code node} and
 * the {@code openai} npm package; set {@code OPENAI_NODE_MODULES} to the {@code node_modules} folder
 * holding it (e.g. after {@code npm install openai@7.57.0}). Skipped otherwise.
 */
class OfficialClientTest {

    @Test
    void theOfficialNodeClientWorksEndToEnd() throws Exception {
        String modules = System.getenv("OPENAI_NODE_MODULES");
        Assumptions.assumeTrue(modules != null && Files.isDirectory(Path.of(modules, "openai")),
                "set OPENAI_NODE_MODULES to a node_modules folder holding the openai npm package to run this test");
        Assumptions.assumeTrue(onPath("node"), "node is not on the PATH");
        try (TestRouter router = new TestRouter("official-client-test", true, "")) {
            ProcessBuilder pb = new ProcessBuilder("node", script().toString());
            pb.environment().put("NODE_PATH", modules);
            pb.environment().put("BASE_URL", router.base.toString());
            pb.environment().put("API_KEY", TestRouter.KEY);
            pb.environment().put("LIMITED_KEY", TestRouter.LIMITED_KEY);
            pb.redirectError(ProcessBuilder.Redirect.INHERIT);
            Process process = pb.start();
            String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(process.waitFor(60, TimeUnit.SECONDS));
            assertEquals(0, process.exitValue(), output);
            JsonNode out = json(output);

            assertEquals("seed=1!", out.get("chat").get(0).asText());
            assertEquals("seed=2!", out.get("chat").get(1).asText());
            assertEquals("stop", out.get("chatFinish").asText());
            assertEquals(List.of("seed", "=", "1"), List.of(out.get("chatLogprobTokens").get(0).asText(),
                    out.get("chatLogprobTokens").get(1).asText(), out.get("chatLogprobTokens").get(2).asText()));
            assertEquals(13, out.get("chatUsage").asInt());
            assertEquals("Hello, world!", out.get("stream").get("text").asText());
            assertEquals("assistant", out.get("stream").get("role").asText());
            assertEquals("stop", out.get("stream").get("finish").asText());
            assertEquals(10, out.get("stream").get("usage").asInt());
            assertEquals("Hello, world!", out.get("completion").get("text").asText());
            assertEquals(3, out.get("completion").get("tokens").size());
            assertEquals("Hello, world!", out.get("completionStream").asText());
            assertEquals(List.of(FakeGpuNode.BASE_MODEL, "bistro", "cafe"), List.of(out.get("models").get(0).asText(),
                    out.get("models").get(1).asText(), out.get("models").get(2).asText()));
            assertEquals("acme", out.get("model").asText());
            assertEquals(404, out.get("notFound").get("status").asInt());
            assertEquals("model_not_found", out.get("notFound").get("code").asText());
            assertEquals(400, out.get("tools").get("status").asInt());
            assertEquals("tools", out.get("tools").get("param").asText());
            assertEquals(400, out.get("contextExceeded").get("status").asInt());
            assertEquals("context_length_exceeded", out.get("contextExceeded").get("code").asText());
            assertEquals(429, out.get("limited").get("status").asInt());
            assertEquals("2", out.get("limited").get("retryAfter").asText());
            assertEquals(401, out.get("badKey").get("status").asInt());
            assertEquals("invalid_api_key", out.get("badKey").get("code").asText());
            assertTrue(out.get("midStream").isObject(), "an error event mid-stream raises in the client: " + out.get("midStream"));
            assertEquals(List.of("0:ids=11,12!", "1:ids=11,12!", "2:ids=13!", "3:ids=13!"), List.of(
                    out.at("/tokenPrompts/texts/0").asText(), out.at("/tokenPrompts/texts/1").asText(),
                    out.at("/tokenPrompts/texts/2").asText(), out.at("/tokenPrompts/texts/3").asText()));
            assertEquals(3, out.at("/tokenPrompts/promptTokens").asInt());
            assertEquals(400, out.at("/negativeTokenId/status").asInt());
            assertEquals("prompt", out.at("/negativeTokenId/param").asText());
        }
    }

    /**
     * Tool calls as the SDK makes them: a named call, a streamed call assembled by the SDK's stream
     * helper, and the round trip (call, tool message, answer) through its tool runner, streaming and not.
     */
    @Test
    void theOfficialNodeClientCallsToolsAndSendsTheirResultsBack() throws Exception {
        String modules = System.getenv("OPENAI_NODE_MODULES");
        Assumptions.assumeTrue(modules != null && Files.isDirectory(Path.of(modules, "openai")),
                "set OPENAI_NODE_MODULES to a node_modules folder holding the openai npm package to run this test");
        Assumptions.assumeTrue(onPath("node"), "node is not on the PATH");
        try (TestRouter router = new TestRouter("official-client-tools-test", true, "")) {
            ProcessBuilder pb = new ProcessBuilder("node", script("/openai-tools-check.cjs").toString());
            pb.environment().put("NODE_PATH", modules);
            pb.environment().put("BASE_URL", router.base.toString());
            pb.environment().put("API_KEY", TestRouter.KEY);
            pb.redirectError(ProcessBuilder.Redirect.INHERIT);
            Process process = pb.start();
            String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(process.waitFor(60, TimeUnit.SECONDS));
            assertEquals(0, process.exitValue(), output);
            JsonNode out = json(output);

            JsonNode call = out.get("call");
            assertEquals("tool_calls", call.get("finish").asText());
            assertTrue(call.get("content").isNull(), call.toString());
            assertTrue(call.get("id").asText().startsWith("call_"), call.toString());
            assertEquals("function", call.get("type").asText());
            assertEquals("get_weather", call.get("name").asText());
            assertEquals("Paris", call.get("arguments").get("city").asText());
            assertEquals("tool_calls", out.get("streamedCall").get("finish").asText());
            assertEquals("get_weather", out.get("streamedCall").get("name").asText());
            assertEquals("Paris", out.get("streamedCall").get("arguments").get("city").asText());
            for (String run : List.of("roundTrip", "roundTripStreaming")) {
                JsonNode trip = out.get(run);
                assertEquals("The tool said: 21 C in Paris", trip.get("answer").asText(), run + ": " + trip);
                assertEquals("Paris", trip.get("calledWith").get(0).get("city").asText(), run + ": " + trip);
                assertEquals(1, trip.get("calledWith").size(), run + ": " + trip);
                assertEquals("21 C in Paris", trip.get("toolMessage").get(0).asText(), run + ": " + trip);
            }
        }
    }

    private static Path script() throws URISyntaxException {
        return script("/openai-client-check.cjs");
    }

    private static Path script(String resource) throws URISyntaxException {
        return Path.of(OfficialClientTest.class.getResource(resource).toURI());
    }

    private static boolean onPath(String program) {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
            if (Files.isExecutable(Path.of(dir, program))) {
                return true;
            }
        }
        return false;
    }
}
