package io.loraplex.router.http;

import static io.loraplex.router.http.OpenAiApiTestSupport.assertError;
import static io.loraplex.router.testkit.TestRouter.KEY;
import static io.loraplex.router.testkit.TestRouter.json;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.loraplex.cluster.tenant.TenantProtocol;
import io.loraplex.router.testkit.TestRouter;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The admin API over real HTTP with the Tenant entity double: the admin key, tenants, keys and usage. */
class AdminRoutesTest {

    static final String ADMIN_KEY = "lp-admin-0123456789abcdef";

    static TestRouter router;

    @BeforeAll
    static void start() {
        router = new TestRouter("admin-routes-test", false,
                "loraplex.router.admin-key-sha256 = \"" + TenantProtocol.hashKey(ADMIN_KEY) + "\"");
    }

    @AfterAll
    static void stop() {
        router.close();
    }

    static HttpResponse<String> admin(String method, String path, String body) {
        return router.send(method, path, ADMIN_KEY, body);
    }

    @Test
    void everyAdminRouteNeedsTheAdminKey() {
        for (String[] call : new String[][] {{"GET", "/v1/admin/tenants"}, {"POST", "/v1/admin/tenants"},
                {"GET", "/v1/admin/tenants/acme"}, {"POST", "/v1/admin/tenants/acme/keys"}, {"GET", "/v1/admin/tenants/acme/keys"},
                {"DELETE", "/v1/admin/tenants/acme/keys/key-1"}, {"GET", "/v1/admin/tenants/acme/usage"}}) {
            assertError(router.send(call[0], call[1], null, null), 401, "invalid_request_error", null, "invalid_api_key");
            assertError(router.send(call[0], call[1], KEY, null), 401, "invalid_request_error", null, "invalid_api_key");
        }
    }

    @Test
    void createsUpdatesListsAndGetsTenants() {
        HttpResponse<String> created = admin("POST", "/v1/admin/tenants",
                "{\"id\": \"newco\", \"display_name\": \"New Co\", \"tier\": \"gold\", \"limits\": {\"storage_quota_bytes\": 1000}}");
        assertEquals(201, created.statusCode(), created.body());
        JsonNode tenant = json(created.body());
        assertEquals("New Co", tenant.get("display_name").asText());
        assertEquals("gold", tenant.get("tier").asText());
        assertEquals(1000, tenant.at("/limits/storage_quota_bytes").asLong());
        assertEquals(TenantProtocol.Limits.generous().maxConcurrent(), tenant.at("/limits/max_concurrent").asInt());

        HttpResponse<String> updated = admin("POST", "/v1/admin/tenants", "{\"id\": \"newco\", \"limits\": {\"max_concurrent\": 3}}");
        assertEquals(200, updated.statusCode(), updated.body());
        assertEquals("New Co", json(updated.body()).get("display_name").asText());
        assertEquals(1000, json(updated.body()).at("/limits/storage_quota_bytes").asLong(), "limits not given are kept");
        assertEquals(3, router.tenants.profiles.get("newco").limits().maxConcurrent());

        TestRouter.await(() -> json(admin("GET", "/v1/admin/tenants", null).body()).get("data").findValuesAsText("id").contains("newco"),
                Duration.ofSeconds(10), "the registry to list newco");
        assertEquals("gold", json(admin("GET", "/v1/admin/tenants/newco", null).body()).get("tier").asText());
        assertError(admin("GET", "/v1/admin/tenants/nobody", null), 404, "invalid_request_error", "id", "tenant_not_found");
        assertError(admin("GET", "/v1/admin/tenants/Not_Valid!", null), 400, "invalid_request_error", "id", "invalid_value");
        assertError(admin("POST", "/v1/admin/tenants", "{\"display_name\": \"x\"}"), 400, "invalid_request_error", "id", "invalid_value");
        assertError(admin("POST", "/v1/admin/tenants", "{\"id\": \"x\", \"limits\": {\"max_concurrent\": 0}}"), 400,
                "invalid_request_error", "limits.max_concurrent", "invalid_value");
        assertError(admin("POST", "/v1/admin/tenants", "{\"id\": \"x\", \"colour\": \"red\"}"), 400, "invalid_request_error",
                "colour", "unknown_parameter");
    }

    @Test
    void aDisplayNameAboveTheLimitIsRefusedNamingIt() {
        HttpResponse<String> refused = admin("POST", "/v1/admin/tenants", "{\"id\": \"longco\", \"display_name\": \""
                + "n".repeat(257) + "\"}");
        assertError(refused, 400, "invalid_request_error", "display_name", "invalid_value");
        assertTrue(refused.body().contains("display_name has 257 characters; the limit is 256"), refused.body());
        assertEquals(201, admin("POST", "/v1/admin/tenants", "{\"id\": \"longco\", \"display_name\": \""
                + "n".repeat(256) + "\"}").statusCode());
    }

    @Test
    void createsListsAndRevokesKeys() {
        assertEquals(201, admin("POST", "/v1/admin/tenants", "{\"id\": \"keyco\"}").statusCode());
        HttpResponse<String> created = admin("POST", "/v1/admin/tenants/keyco/keys", "{\"scopes\": [\"chat\", \"manage\"], \"label\": \"ci\"}");
        assertEquals(201, created.statusCode(), created.body());
        JsonNode key = json(created.body());
        assertTrue(key.get("key").asText().startsWith("sk-keyco-"), created.body());
        List<String> scopes = new ArrayList<>();
        key.get("scopes").forEach(s -> scopes.add(s.asText()));
        assertEquals(List.of("chat", "manage"), scopes);
        assertEquals(Set.of(TenantProtocol.Scope.CHAT, TenantProtocol.Scope.MANAGE),
                router.tenants.createdKeys.get("keyco").get(0).scopes());

        JsonNode list = json(admin("GET", "/v1/admin/tenants/keyco/keys", null).body());
        assertEquals(1, list.get("data").size());
        assertEquals("ci", list.at("/data/0/label").asText());
        assertTrue(list.at("/data/0/key").isMissingNode(), "a listing never shows the key");

        String id = key.get("id").asText();
        assertEquals(200, admin("DELETE", "/v1/admin/tenants/keyco/keys/" + id, null).statusCode());
        assertError(admin("DELETE", "/v1/admin/tenants/keyco/keys/" + id, null), 404, "invalid_request_error", "key_id", "key_not_found");
        assertEquals(0, json(admin("GET", "/v1/admin/tenants/keyco/keys", null).body()).get("data").size());

        assertError(admin("POST", "/v1/admin/tenants/keyco/keys", "{\"scopes\": [\"root\"]}"), 400, "invalid_request_error", "scopes",
                "invalid_value");
        assertError(admin("POST", "/v1/admin/tenants/nobody/keys", "{}"), 404, "invalid_request_error", "id", "tenant_not_found");
        assertError(admin("GET", "/v1/admin/tenants/nobody/keys", null), 404, "invalid_request_error", "id", "tenant_not_found");
    }

    @Test
    void readsATenantsUsage() {
        assertEquals(201, admin("POST", "/v1/admin/tenants", "{\"id\": \"usageco\"}").statusCode());
        HttpResponse<String> response = admin("GET", "/v1/admin/tenants/usageco/usage?from=490000&to=490023", null);
        assertEquals(200, response.statusCode(), response.body());
        assertEquals(490000, json(response.body()).at("/data/0/hour").asLong());
        TenantProtocol.GetUsage asked = router.tenants.usageQueries.get(router.tenants.usageQueries.size() - 1);
        assertEquals(490000, asked.fromEpochHour());
        assertEquals(490023, asked.toEpochHour());
        assertError(admin("GET", "/v1/admin/tenants/nobody/usage", null), 404, "invalid_request_error", "id", "tenant_not_found");
        assertError(admin("GET", "/v1/admin/tenants/usageco/usage?to=-1", null), 400, "invalid_request_error", "to", "invalid_value");
    }
}
