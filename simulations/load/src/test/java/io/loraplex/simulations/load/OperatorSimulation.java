package io.loraplex.simulations.load;

import static io.gatling.javaapi.core.CoreDsl.atOnceUsers;
import static io.gatling.javaapi.core.CoreDsl.bodyString;
import static io.gatling.javaapi.core.CoreDsl.details;
import static io.gatling.javaapi.core.CoreDsl.exec;
import static io.gatling.javaapi.core.CoreDsl.global;
import static io.gatling.javaapi.core.CoreDsl.jsonPath;
import static io.gatling.javaapi.core.CoreDsl.scenario;
import static io.gatling.javaapi.http.HttpDsl.http;
import static io.gatling.javaapi.http.HttpDsl.status;

import com.fasterxml.jackson.databind.JsonNode;
import io.gatling.javaapi.core.ScenarioBuilder;
import io.gatling.javaapi.core.Simulation;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Comparator;
import java.util.List;

/**
 * The operator's day: in the middle of the chat load, a rebalance, then a drain of one GPU node (it stops taking new
 * requests, its hot adapters are loaded elsewhere, its in-flight requests finish, it leaves), then another rebalance.
 * Needs at least two ready GPU nodes ({@code deploy/local-cluster.sh start --journal embedded}); chat must not fail
 * while a node drains away. Asserts no failed request (a drain that fails is one) and time to first token p99 under
 * {@code loraplex.load.ttft-p99-ms.operator}.
 */
// Gatling's DSL declares the run in the constructor (setUp), so "this" escapes by design
@SuppressWarnings("this-escape")
public class OperatorSimulation extends Simulation {

    {
        LoadSettings settings = LoadSettings.fromSystem();
        List<LoraplexApi.Node> ready = new LoraplexApi(settings.url(), settings.adminKey()).nodes().stream()
                .filter(LoraplexApi.Node::ready).sorted(Comparator.comparing(LoraplexApi.Node::id)).toList();
        if (ready.size() < 2) {
            throw new IllegalStateException("the operator's day drains a GPU node under load and needs at least 2 ready GPU nodes; "
                    + settings.url() + " has " + ready.size() + " (" + ready.stream().map(LoraplexApi.Node::id).toList()
                    + "): run it against deploy/local-cluster.sh start --journal embedded");
        }
        LoadSetup setup = LoadSetup.provision(settings);
        setUp(ChatTraffic.sessions("multi-tenant chat", setup).injectOpen(ChatTraffic.arrivals(settings.arrival())),
                operator(settings, ready.getLast().id()).injectOpen(atOnceUsers(1)))
                .protocols(ChatTraffic.protocol(settings))
                .assertions(global().failedRequests().count().is(0L),
                        details(ChatTraffic.TTFT).responseTime().percentile(99.0).lt(settings.ttftP99Ms().operator()));
    }

    /**
     * Whether a drain status (the router's Fleet) is final: "left…", "drained…" (stayed, or requests still in flight at
     * its timeout) or "drain failed…"; "draining", "prefetching…", "waiting for…" and "leaving" are on the way.
     */
    static boolean drainEnded(String status) {
        return status.startsWith("left") || status.startsWith("drained") || status.startsWith("drain failed");
    }

    /** Whether {@code GET /v1/admin/nodes} shows the node gone or left after its drain. */
    static boolean drainedAway(String nodesBody, String node) {
        try {
            for (JsonNode n : LoraplexApi.JSON.readTree(nodesBody).get("data")) {
                if (n.get("id").asText().equals(node)) {
                    return n.path("drain_status").asText().startsWith("left");
                }
            }
            return true;
        } catch (IOException e) {
            throw new UncheckedIOException("GET /v1/admin/nodes answered no JSON: " + nodesBody, e);
        }
    }

    private static ScenarioBuilder operator(LoadSettings settings, String node) {
        String auth = "Bearer " + settings.adminKey();
        return scenario("operator's day").pause(settings.drainAfter().dividedBy(2))
                .exec(http("rebalance").post("/v1/admin/rebalance").header("Authorization", auth).check(status().is(200)))
                .pause(settings.drainAfter().dividedBy(2))
                .exec(http("drain").post("/v1/admin/nodes/" + node + "/drain").header("Authorization", auth).check(status().is(202)))
                .exec(session -> session.set("nodeStatus", 200).set("drainStatus", "draining"))
                .asLongAsDuring(session -> session.getInt("nodeStatus") == 200 && !drainEnded(session.getString("drainStatus")),
                        settings.drainTimeout()).on(
                        exec(http("drain status").get("/v1/admin/nodes/" + node).header("Authorization", auth)
                                .check(status().in(200, 404).saveAs("nodeStatus"), jsonPath("$.drain_status").optional().saveAs("drainStatus")))
                                .pause(1))
                // a drain that failed, or did not end within the drain timeout, fails here
                .exec(http("node drained away").get("/v1/admin/nodes").header("Authorization", auth)
                        .check(status().is(200), bodyString().transform(body -> drainedAway(body, node)).is(true)))
                .exec(http("rebalance after the drain").post("/v1/admin/rebalance").header("Authorization", auth).check(status().is(200)));
    }
}
