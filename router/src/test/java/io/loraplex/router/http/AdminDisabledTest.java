package io.loraplex.router.http;

import static io.loraplex.router.http.OpenAiApiTestSupport.assertError;
import static io.loraplex.router.testkit.TestRouter.json;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraplex.router.testkit.TestRouter;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.Test;

/** Without loraplex.router.admin-key-sha256 the admin API refuses everyone, whatever key they bring. */
class AdminDisabledTest {

    @Test
    void adminRoutesAnswer403() {
        try (TestRouter router = new TestRouter("admin-disabled-test", false, "")) {
            for (String key : new String[] {null, TestRouter.KEY, "lp-admin-guess-0123456789"}) {
                HttpResponse<String> response = router.send("GET", "/v1/admin/tenants", key, null);
                assertError(response, 403, "permission_error", null, "insufficient_permissions");
                assertTrue(json(response.body()).at("/error/message").asText().startsWith("admin API disabled"));
            }
        }
    }
}
