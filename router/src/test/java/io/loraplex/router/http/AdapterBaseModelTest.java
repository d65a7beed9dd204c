package io.loraplex.router.http;

import static io.loraplex.router.testkit.TestRouter.MANAGE_KEY;
import static io.loraplex.router.testkit.TestRouter.json;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.loraplex.cluster.ContentHash;
import io.loraplex.cluster.adapter.AdapterProtocol;
import io.loraplex.router.testkit.TestRouter;
import java.io.IOException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An adapter upload names the base model it is for ({@code base_model}); in a fleet of several
 * base models it must, so the version is validated, and later served, on a node of that base.
 */
class AdapterBaseModelTest {

    @TempDir
    static Path blobs;
    static TestRouter router;

    @BeforeAll
    static void start() {
        router = new TestRouter("adapter-base-model-test", false, "loraplex.router.base-models = [tiny-a, tiny-b]", blobs);
    }

    @AfterAll
    static void stop() {
        router.close();
    }

    static HttpResponse<String> upload(MultipartForm form) throws IOException, InterruptedException {
        return router.http.send(router.request("POST", "/v1/adapters", MANAGE_KEY, null).header("Content-Type", form.contentType())
                .POST(HttpRequest.BodyPublishers.ofByteArray(form.body())).build(), HttpResponse.BodyHandlers.ofString());
    }

    static MultipartForm form(String name, int seed) {
        return new MultipartForm().field("name", name)
                .file("file", ContentHash.CONFIG_FILE, AdapterRoutesTest.CONFIG)
                .file("file", ContentHash.WEIGHTS_FILE, AdapterRoutesTest.weights(4000, seed));
    }

    static void assertInvalidBaseModel(HttpResponse<String> response, String... mentions) {
        assertEquals(400, response.statusCode(), response.body());
        JsonNode error = json(response.body()).get("error");
        assertEquals("base_model", error.get("param").asText(), response.body());
        for (String mention : mentions) {
            assertTrue(error.get("message").asText().contains(mention), "'" + mention + "' in " + response.body());
        }
    }

    @Test
    void theBaseModelNamedInTheFormIsTheOneTheVersionIsRegisteredFor() throws Exception {
        HttpResponse<String> response = upload(form("for-b", 1).field("base_model", "tiny-b"));
        assertEquals(201, response.statusCode(), response.body());
        AdapterProtocol.RegisterVersion registered = router.adapters.registered.stream()
                .filter(r -> r.name().equals("for-b")).findFirst().orElseThrow();
        assertEquals("tiny-b", registered.baseModel());
    }

    @Test
    void withSeveralBaseModelsAnUploadThatNamesNoneIsRefusedListingThem() throws Exception {
        assertInvalidBaseModel(upload(form("unnamed", 2)), "several base models", "tiny-a", "tiny-b", "'base_model'");
        assertTrue(router.adapters.registered.stream().noneMatch(r -> r.name().equals("unnamed")), "nothing registered");
    }

    @Test
    void aBaseModelTheFleetDoesNotServeIsRefusedNamingIt() throws Exception {
        assertInvalidBaseModel(upload(form("elsewhere", 3).field("base_model", "llama-70b")), "'llama-70b' is not a base model",
                "tiny-a");
        assertInvalidBaseModel(upload(form("blank", 4).field("base_model", " ")), "'base_model' field is empty");
        assertInvalidBaseModel(upload(form("twice", 5).field("base_model", "tiny-a").field("base_model", "tiny-b")),
                "more than one 'base_model'");
        assertInvalidBaseModel(upload(form("long", 6).field("base_model", "x".repeat(300))), "too long");
        assertTrue(router.adapters.registered.stream().noneMatch(r -> Set.of("elsewhere", "blank", "twice", "long")
                .contains(r.name())), "nothing registered");
    }

    @Test
    void withOneBaseModelTheFieldMayBeLeftOut() {
        assertNull(AdapterUpload.baseModelProblem(null, Set.of("tiny")));
        assertNull(AdapterUpload.baseModelProblem(null, Set.of()));
        assertNull(AdapterUpload.baseModelProblem("tiny", Set.of("tiny")));
    }
}
