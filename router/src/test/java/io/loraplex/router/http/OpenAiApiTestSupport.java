package io.loraplex.router.http;

import static io.loraplex.router.testkit.TestRouter.json;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.http.HttpResponse;

/** Assertions on OpenAI error bodies. */
final class OpenAiApiTestSupport {

    private OpenAiApiTestSupport() {
    }

    static void assertError(HttpResponse<String> response, int status, String type, String param, String code) {
        assertEquals(status, response.statusCode(), response.body());
        JsonNode error = json(response.body()).get("error");
        assertNotNull(error, response.body());
        assertEquals(type, error.get("type").asText(), response.body());
        assertEquals(param, error.get("param").isNull() ? null : error.get("param").asText(), response.body());
        assertEquals(code, error.get("code").isNull() ? null : error.get("code").asText(), response.body());
        assertFalse(error.get("message").asText().isBlank());
    }
}
