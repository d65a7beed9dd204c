package io.loraplex.router.http;

import static io.loraplex.router.http.OpenAiApiTestSupport.assertError;
import static io.loraplex.router.testkit.TestRouter.json;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import io.loraplex.router.testkit.TestRouter;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.Test;

/**
 * Without loraplex.router.metrics.key-sha256 the API's port serves no metrics to anyone: their
 * series name every tenant and adapter (the management port serves them instead).
 */
class MetricsDisabledTest {

    @Test
    void metricsOnTheApiPortAnswer403WhateverKeyIsSent() {
        try (TestRouter router = new TestRouter("metrics-disabled-test", false, "")) {
            for (String key : new String[] {null, TestRouter.KEY, "lp-metrics-guess-0123456789"}) {
                HttpResponse<String> response = router.send("GET", "/metrics", key, null);
                assertError(response, 403, "permission_error", null, "insufficient_permissions");
                assertEquals("The metrics are not served on this port: scrape /metrics on the management port, or set "
                                + "loraplex.router.metrics.key-sha256 to the SHA-256 of a metrics key and send it as a bearer token.",
                        json(response.body()).at("/error/message").asText());
                assertFalse(response.body().contains("loraplex_router"), response.body());
            }
        }
    }
}
