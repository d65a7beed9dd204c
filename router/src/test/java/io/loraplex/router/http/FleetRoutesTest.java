package io.loraplex.router.http;

import static io.loraplex.router.http.OpenAiApiTestSupport.assertError;
import static io.loraplex.router.testkit.TestRouter.KEY;
import static io.loraplex.router.testkit.TestRouter.OTHER_KEY;
import static io.loraplex.router.testkit.TestRouter.json;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.loraplex.cluster.AdapterRef;
import io.loraplex.cluster.node.GpuNodeProtocol;
import io.loraplex.cluster.tenant.TenantProtocol;
import io.loraplex.router.testkit.FakeGpuNode;
import io.loraplex.router.testkit.FakeTenants;
import io.loraplex.router.testkit.TestRouter;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The fleet over real HTTP with two GPU node doubles: where requests go, retries elsewhere, sessions
 * and their prefetch, and the operators' node routes (list, drain, undrain, rebalance, pin, evict).
 */
class FleetRoutesTest {

    static final String ADMIN_KEY = "lp-admin-0123456789abcdef";
    static final String CHAT = "/v1/chat/completions";

    static TestRouter router;
    static FakeGpuNode second;

    @BeforeAll
    static void start() {
        router = new TestRouter("fleet-routes-test", true,
                "loraplex.router.admin-key-sha256 = \"" + TenantProtocol.hashKey(ADMIN_KEY) + "\"\n"
                        + "loraplex.router.placement.stats-interval = 100 ms");
        second = new FakeGpuNode("node-2");
        router.kit.spawn(second.behavior(), "fake-gpu-node-2");
        TestRouter.await(() -> nodes().size() == 2 && nodes().findValuesAsText("ready").stream().allMatch("true"::equals),
                Duration.ofSeconds(20), "both nodes listed and ready");
    }

    @AfterAll
    static void stop() {
        router.close();
    }

    @AfterEach
    void reset() {
        for (FakeGpuNode n : List.of(router.node, second)) {
            n.draining.set(false);
            n.held.clear();
            n.operations.clear();
            n.generates.clear();
            n.running.set(0);
        }
        admin("POST", "/v1/admin/nodes/node-1/undrain", null);
        admin("POST", "/v1/admin/nodes/node-2/undrain", null);
    }

    static HttpResponse<String> admin(String method, String path, String body) {
        return router.send(method, path, ADMIN_KEY, body);
    }

    static JsonNode nodes() {
        HttpResponse<String> r = admin("GET", "/v1/admin/nodes", null);
        assertEquals(200, r.statusCode(), r.body());
        return json(r.body()).get("data");
    }

    static JsonNode node(String id) {
        HttpResponse<String> r = admin("GET", "/v1/admin/nodes/" + id, null);
        assertEquals(200, r.statusCode(), r.body());
        return json(r.body());
    }

    static HttpResponse<String> chat(String model, String sessionId) {
        var b = router.request("POST", CHAT, KEY, "{\"model\": \"" + model + "\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}");
        if (sessionId != null) {
            b.header("X-Session-Id", sessionId);
        }
        try {
            return router.http.send(b.build(), HttpResponse.BodyHandlers.ofString());
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    private static FakeGpuNode fake(String id) {
        return id.equals("node-1") ? router.node : second;
    }

    @Test
    void everyFleetRouteNeedsTheAdminKey() {
        for (String[] call : new String[][] {{"GET", "/v1/admin/nodes"}, {"GET", "/v1/admin/nodes/node-1"},
                {"POST", "/v1/admin/nodes/node-1/drain"}, {"POST", "/v1/admin/nodes/node-1/undrain"}, {"POST", "/v1/admin/rebalance"},
                {"POST", "/v1/admin/tenants/acme/adapters/cafe/pin"}, {"POST", "/v1/admin/tenants/acme/adapters/cafe/evict"}}) {
            assertError(router.send(call[0], call[1], null, null), 401, "invalid_request_error", null, "invalid_api_key");
            assertError(router.send(call[0], call[1], KEY, null), 401, "invalid_request_error", null, "invalid_api_key");
        }
    }

    @Test
    void listsNodesWithLoadAndAdapters() {
        JsonNode list = nodes();
        assertEquals(Set.of("node-1", "node-2"), new HashSet<>(list.findValuesAsText("id")));
        JsonNode one = node("node-1");
        assertEquals(FakeGpuNode.BASE_MODEL, one.get("base_model").asText());
        assertTrue(one.get("ready").asBoolean());
        assertFalse(one.get("draining").asBoolean());
        assertEquals(64, one.get("capacity").asInt());
        assertTrue(one.get("roles").isArray() && one.get("hot").isArray() && one.get("warm").isArray(), one.toString());
        assertError(admin("GET", "/v1/admin/nodes/nope", null), 404, "invalid_request_error", "node", "node_not_found");
        assertError(admin("POST", "/v1/admin/nodes/nope/drain", null), 404, "invalid_request_error", "node", "node_not_found");
    }

    @Test
    void anAdapterGoesWhereItIsHotAndTheResponseSaysWhere() {
        HttpResponse<String> first = chat("cafe", null);
        assertEquals(200, first.statusCode(), first.body());
        String node = first.headers().firstValue("x-loraplex-node").orElseThrow();
        assertEquals("cold", first.headers().firstValue("x-loraplex-adapter-tier").orElseThrow());
        TestRouter.await(() -> node(node).get("hot").findValuesAsText("name").contains("cafe"), Duration.ofSeconds(5),
                "cafe listed hot on " + node);
        for (int i = 0; i < 5; i++) {
            HttpResponse<String> again = chat("cafe", null);
            assertEquals(node, again.headers().firstValue("x-loraplex-node").orElseThrow(), "served where it is hot");
            assertEquals("hot", again.headers().firstValue("x-loraplex-adapter-tier").orElseThrow());
        }
    }

    @Test
    void aRefusingNodeIsRetriedElsewhere() {
        router.node.draining.set(true); // node-1 refuses with OVERLOADED but its stats are not polled yet
        second.draining.set(false);
        for (int i = 0; i < 6; i++) {
            HttpResponse<String> r = chat(i % 2 == 0 ? "cafe" : "bistro", null);
            assertEquals(200, r.statusCode(), r.body());
            assertEquals("node-2", r.headers().firstValue("x-loraplex-node").orElseThrow());
        }
    }

    @Test
    void aSessionWarmsItsAdapterAndItsFirstRequestIsAHotHit() {
        long hits = json(admin("GET", "/v1/admin/nodes", null).body()).get("prefetch").get("hits").asLong();
        HttpResponse<String> created = router.send("POST", "/v1/sessions", KEY, "{\"model\": \"bistro\"}");
        assertEquals(200, created.statusCode(), created.body());
        JsonNode session = json(created.body());
        assertEquals("session", session.get("object").asText());
        assertTrue(session.get("id").asText().startsWith("sess_"));
        String node = session.get("node").asText();
        assertTrue(fake(node).operations.stream().anyMatch(op -> op instanceof GpuNodeProtocol.LoadAdapter l
                && l.adapter().name().equals("bistro")), "the adapter was loaded on the session's node");
        HttpResponse<String> first = chat("bistro", session.get("id").asText());
        assertEquals(200, first.statusCode(), first.body());
        assertEquals(node, first.headers().firstValue("x-loraplex-node").orElseThrow());
        assertEquals("hot", first.headers().firstValue("x-loraplex-adapter-tier").orElseThrow());
        assertEquals(hits + 1, json(admin("GET", "/v1/admin/nodes", null).body()).get("prefetch").get("hits").asLong());

        assertError(router.send("POST", "/v1/sessions", KEY, "{\"model\": \"secret\"}"), 404, "invalid_request_error", "model",
                "model_not_found");
        assertError(router.send("POST", "/v1/sessions", OTHER_KEY, "{\"model\": \"bistro\"}"), 404, "invalid_request_error",
                "model", "model_not_found");
        assertError(router.send("POST", "/v1/sessions", KEY, "{\"modle\": \"bistro\"}"), 400, "invalid_request_error", "modle",
                "unknown_parameter");
        assertError(router.send("POST", "/v1/sessions", null, "{\"model\": \"bistro\"}"), 401, "invalid_request_error", null,
                "invalid_api_key");
        var bad = router.request("POST", CHAT, KEY, "{\"model\": \"bistro\", \"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}")
                .header("X-Session-Id", "no spaces allowed");
        try {
            HttpResponse<String> r = router.http.send(bad.build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(400, r.statusCode(), r.body());
            assertTrue(r.body().contains("X-Session-Id"), r.body());
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void aSessionNamedByAHeaderSticksToItsNode() {
        HttpResponse<String> first = chat("cafe", "my-session-1");
        assertEquals(200, first.statusCode(), first.body());
        String node = first.headers().firstValue("x-loraplex-node").orElseThrow();
        for (int i = 0; i < 4; i++) {
            assertEquals(node, chat("cafe", "my-session-1").headers().firstValue("x-loraplex-node").orElseThrow());
        }
    }

    @Test
    void drainStopsPlacementsAndPrefetchesItsHotAdaptersElsewhere() {
        AdapterRef cafe = FakeTenants.adapter("acme", "cafe");
        router.node.held.put(cafe.contentHash().hex(), new GpuNodeProtocol.HeldAdapter(cafe, GpuNodeProtocol.AdapterTier.HOT, false, 0));
        TestRouter.await(() -> node("node-1").get("hot").findValuesAsText("name").contains("cafe"), Duration.ofSeconds(5),
                "cafe hot on node-1");
        HttpResponse<String> drained = admin("POST", "/v1/admin/nodes/node-1/drain", null);
        assertEquals(202, drained.statusCode(), drained.body());
        assertTrue(json(drained.body()).get("draining").asBoolean());
        assertTrue(router.node.draining.get(), "the node was told to drain");
        TestRouter.await(() -> second.operations.stream().anyMatch(op -> op instanceof GpuNodeProtocol.LoadAdapter l
                && l.adapter().name().equals("cafe")), Duration.ofSeconds(5), "cafe prefetched on node-2");
        for (int i = 0; i < 4; i++) {
            HttpResponse<String> r = chat("cafe", null);
            assertEquals(200, r.statusCode(), r.body());
            assertEquals("node-2", r.headers().firstValue("x-loraplex-node").orElseThrow());
        }
        // the double refuses to leave (as a node sharing its JVM with a router does): it stays drained, and says so
        TestRouter.await(() -> node("node-1").path("drain_status").asText().contains("stays"), Duration.ofSeconds(10),
                "the drain to end");
        assertTrue(router.node.operations.stream().anyMatch(op -> op instanceof GpuNodeProtocol.Leave));
        assertFalse(node("node-1").get("ready").asBoolean());

        HttpResponse<String> undrained = admin("POST", "/v1/admin/nodes/node-1/undrain", null);
        assertEquals(200, undrained.statusCode(), undrained.body());
        assertFalse(router.node.draining.get());
        TestRouter.await(() -> node("node-1").get("ready").asBoolean(), Duration.ofSeconds(5), "node-1 ready again");
    }

    @Test
    void pinUnpinAndEvictReachTheNodes() {
        HttpResponse<String> pinned = admin("POST", "/v1/admin/tenants/acme/adapters/cafe/pin", "{\"node\": \"node-2\"}");
        assertEquals(200, pinned.statusCode(), pinned.body());
        assertEquals("node-2", json(pinned.body()).get("nodes").get(0).asText(), pinned.body());
        assertTrue(second.held.values().stream().anyMatch(h -> h.adapter().name().equals("cafe") && h.pinned()));
        HttpResponse<String> unpinned = admin("POST", "/v1/admin/tenants/acme/adapters/cafe/unpin", null);
        assertEquals(200, unpinned.statusCode(), unpinned.body());
        assertTrue(second.held.values().stream().noneMatch(h -> h.pinned()));
        HttpResponse<String> evicted = admin("POST", "/v1/admin/tenants/acme/adapters/cafe/evict", null);
        assertEquals(200, evicted.statusCode(), evicted.body());
        assertTrue(second.held.isEmpty() && router.node.held.isEmpty());
        assertTrue(second.operations.stream().anyMatch(op -> op instanceof GpuNodeProtocol.EvictAdapter e && e.purge()));

        assertError(admin("POST", "/v1/admin/tenants/acme/adapters/nope/pin", null), 404, "invalid_request_error", "model",
                "model_not_found");
        assertError(admin("POST", "/v1/admin/tenants/acme/adapters/cafe/pin", "{\"node\": \"nope\"}"), 404, "invalid_request_error",
                "node", "node_not_found");
        assertError(admin("POST", "/v1/admin/tenants/acme/adapters/cafe/pin", "{\"node\": 1"), 400, "invalid_request_error", null,
                "invalid_json");
    }

    @Test
    void rebalanceMovesHotAdaptersToTheLessLoadedNode() {
        for (String name : List.of("a1", "a2", "a3", "a4")) {
            AdapterRef ref = FakeTenants.adapter("acme", name);
            router.node.held.put(ref.contentHash().hex(), new GpuNodeProtocol.HeldAdapter(ref, GpuNodeProtocol.AdapterTier.HOT, false, 0));
        }
        TestRouter.await(() -> node("node-1").get("hot").size() == 4, Duration.ofSeconds(5), "four adapters hot on node-1");
        HttpResponse<String> r = admin("POST", "/v1/admin/rebalance", null);
        assertEquals(200, r.statusCode(), r.body());
        JsonNode moves = json(r.body()).get("moves");
        assertEquals(2, moves.size(), r.body());
        for (JsonNode m : moves) {
            assertEquals("node-1", m.get("from").asText());
            assertEquals("node-2", m.get("to").asText());
        }
        assertEquals(2, second.held.size());
        assertEquals(2, router.node.held.size());
    }

    @Test
    void aNonStreamingRequestWhoseNodeBreaksIsServedElsewhereAStreamEndsWithAClearError() {
        HttpResponse<String> r = router.send("POST", CHAT, KEY,
                "{\"model\": \"cafe\", \"messages\": [{\"role\": \"user\", \"content\": \"[broken-once] hi\"}]}");
        assertEquals(200, r.statusCode(), r.body());
        assertEquals("Hello, world!", json(r.body()).get("choices").get(0).get("message").get("content").asText());
        int generates = router.node.generates.size() + second.generates.size();
        assertEquals(2, generates, "started once, broken, started again on the other node");
        String servedBy = r.headers().firstValue("x-loraplex-node").orElseThrow();
        assertEquals(1, fake(servedBy).generates.size());

        List<String> lines = router.stream(CHAT, "{\"model\": \"cafe\", \"stream\": true, \"messages\": "
                + "[{\"role\": \"user\", \"content\": \"[broken-once] hi\"}]}").body().toList();
        String error = lines.stream().filter(l -> l.contains("\"error\"")).findFirst().orElseThrow(() -> new AssertionError(lines));
        assertTrue(error.contains("stopped answering") && error.contains("node-"), error);
        assertEquals("data: [DONE]", lines.stream().filter(l -> !l.isBlank()).reduce((a, b) -> b).orElseThrow(), lines.toString());
    }
}
