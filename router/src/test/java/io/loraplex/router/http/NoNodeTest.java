package io.loraplex.router.http;

import static io.loraplex.router.testkit.TestRouter.json;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.loraplex.router.testkit.FakeGpuNode;
import io.loraplex.router.testkit.TestRouter;
import java.net.http.HttpResponse;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** A router whose cluster has no GPU node: not ready, and generations get 503 (never 404 for a known base). */
class NoNodeTest {

    static TestRouter router;

    @BeforeAll
    static void start() {
        router = new TestRouter("no-node-test", false, "loraplex.router.base-models = [\"" + FakeGpuNode.BASE_MODEL + "\"]");
    }

    @AfterAll
    static void stop() {
        router.close();
    }

    @Test
    void notReadyWithoutANode() {
        HttpResponse<String> ready = router.send("GET", "/ready", null, null);
        assertEquals(503, ready.statusCode());
        JsonNode body = json(ready.body());
        assertTrue(body.get("warmed_up").asBoolean());
        assertFalse(body.get("ready_node").asBoolean());
        assertEquals(200, router.send("GET", "/health", null, null).statusCode());
    }

    @Test
    void generationsAre503() {
        for (String model : new String[] {"cafe", FakeGpuNode.BASE_MODEL}) {
            for (String stream : new String[] {"false", "true"}) {
                HttpResponse<String> response = router.post("/v1/chat/completions", "{\"model\":\"" + model
                        + "\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":" + stream + "}");
                OpenAiApiTestSupport.assertError(response, 503, "server_error", null, "service_unavailable");
                String id = response.headers().firstValue("x-request-id").orElseThrow();
                TestRouter.await(() -> router.tenants.finishedOf(id).size() == 1, Duration.ofSeconds(5), "Finished of " + id);
            }
        }
    }

    @Test
    void aGenerationWithoutAReadyNodeSaysWhenToRetry() {
        HttpResponse<String> response = router.post("/v1/chat/completions",
                "{\"model\":\"cafe\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
        OpenAiApiTestSupport.assertError(response, 503, "server_error", null, "service_unavailable");
        assertEquals("No GPU node is ready to serve this request; retry later.",
                json(response.body()).get("error").get("message").asText());
        // loraplex.router.no-node-retry-after, 5 s by default
        assertEquals("5", response.headers().firstValue("Retry-After").orElse(null), response.headers().toString());
    }

    @Test
    void theConfiguredBaseIsListed() {
        JsonNode models = json(router.send("GET", "/v1/models", TestRouter.KEY, null).body());
        assertEquals(FakeGpuNode.BASE_MODEL, models.get("data").get(0).get("id").asText());
    }
}
