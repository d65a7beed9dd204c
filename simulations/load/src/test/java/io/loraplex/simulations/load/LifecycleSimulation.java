package io.loraplex.simulations.load;

import static io.gatling.javaapi.core.CoreDsl.StringBody;
import static io.gatling.javaapi.core.CoreDsl.atOnceUsers;
import static io.gatling.javaapi.core.CoreDsl.details;
import static io.gatling.javaapi.core.CoreDsl.exec;
import static io.gatling.javaapi.core.CoreDsl.global;
import static io.gatling.javaapi.core.CoreDsl.jsonPath;
import static io.gatling.javaapi.core.CoreDsl.scenario;
import static io.gatling.javaapi.http.HttpDsl.http;
import static io.gatling.javaapi.http.HttpDsl.status;

import io.gatling.javaapi.core.ChainBuilder;
import io.gatling.javaapi.core.ScenarioBuilder;
import io.gatling.javaapi.core.Simulation;
import io.loraplex.cluster.ContentHash;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Lifecycle under load: while the chat load runs, an operator of the most popular tenant uploads a new version of the
 * most popular adapter, sends it a canary share of the traffic, promotes it, and uploads and promotes a fresh adapter,
 * cycle after cycle. Chat on the adapter being replaced must not fail. Asserts no failed request and time to first
 * token p99 under {@code loraplex.load.ttft-p99-ms.lifecycle}.
 */
// Gatling's DSL declares the run in the constructor (setUp), so "this" escapes by design
@SuppressWarnings("this-escape")
public class LifecycleSimulation extends Simulation {

    static final double CANARY_SHARE = 0.3;

    {
        LoadSettings settings = LoadSettings.fromSystem();
        LoadSetup setup = LoadSetup.provision(settings);
        LoadSetup.Target hot = setup.adapters().getFirst();
        setUp(ChatTraffic.sessions("multi-tenant chat", setup).injectOpen(ChatTraffic.arrivals(settings.arrival())),
                lifecycle(setup, hot).injectOpen(atOnceUsers(1)))
                .protocols(ChatTraffic.protocol(settings))
                .assertions(global().failedRequests().count().is(0L),
                        details(ChatTraffic.TTFT).responseTime().percentile(99.0).lt(settings.ttftP99Ms().lifecycle()));
    }

    private static ScenarioBuilder lifecycle(LoadSetup setup, LoadSetup.Target hot) {
        String auth = "Bearer " + hot.tenant().manageKey();
        List<ChainBuilder> cycles = new ArrayList<>();
        for (int c = 0; c < setup.settings().lifecycleCycles(); c++) {
            // the files are written before the load starts, so writing them is not part of what is measured
            Path version = setup.newAdapter(10_000 + 2 * c);
            Path fresh = setup.newAdapter(10_001 + 2 * c);
            String freshName = "fresh-" + c;
            cycles.add(exec(upload("upload new version", auth, hot.model(), setup.baseModel(), version).check(status().is(201),
                            jsonPath("$.version").ofInt().saveAs("version")))
                    .exec(http("canary").post("/v1/adapters/" + hot.model() + "/canary").header("Authorization", auth)
                            .header("Content-Type", "application/json").body(StringBody("{\"version\": #{version}, \"share\": " + CANARY_SHARE + "}")).check(status().is(200)))
                    .pause(setup.settings().lifecycleEvery().dividedBy(2))
                    .exec(http("promote").post("/v1/adapters/" + hot.model() + "/promote").header("Authorization", auth)
                            .header("Content-Type", "application/json").body(StringBody("{\"version\": #{version}}")).check(status().is(200)))
                    .exec(upload("upload fresh adapter", auth, freshName, setup.baseModel(), fresh).check(status().is(201)))
                    .exec(http("promote fresh adapter").post("/v1/adapters/" + freshName + "/promote").header("Authorization", auth)
                            .header("Content-Type", "application/json").body(StringBody("{}")).check(status().is(200)))
                    .pause(setup.settings().lifecycleEvery().dividedBy(2)));
        }
        // the first cycle starts once chat has ramped up
        return scenario("adapter lifecycle").pause(setup.settings().arrival().ramp()).exec(cycles);
    }

    private static io.gatling.javaapi.http.HttpRequestActionBuilder upload(String request, String auth, String name, String baseModel,
            Path dir) {
        return http(request).post("/v1/adapters").header("Authorization", auth).formParam("name", name).formParam("base_model", baseModel)
                .formUpload(ContentHash.CONFIG_FILE, dir.resolve(ContentHash.CONFIG_FILE).toAbsolutePath().toString())
                .formUpload(ContentHash.WEIGHTS_FILE, dir.resolve(ContentHash.WEIGHTS_FILE).toAbsolutePath().toString());
    }
}
