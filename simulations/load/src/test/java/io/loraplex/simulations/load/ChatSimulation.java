package io.loraplex.simulations.load;

import static io.gatling.javaapi.core.CoreDsl.details;
import static io.gatling.javaapi.core.CoreDsl.global;

import io.gatling.javaapi.core.Simulation;

/**
 * Multi-tenant chat: N tenants with their adapters (Zipf popularity), sessions of several turns with think time,
 * streamed and non-streamed, a share with sampling parameters, open-model arrivals with a ramp and a burst. The CI
 * scenario (simulations/load/run.sh chat). Asserts no failed request and time to first token p99 under
 * {@code loraplex.load.ttft-p99-ms.chat}.
 */
// Gatling's DSL declares the run in the constructor (setUp), so "this" escapes by design
@SuppressWarnings("this-escape")
public class ChatSimulation extends Simulation {

    {
        LoadSettings settings = LoadSettings.fromSystem();
        LoadSetup setup = LoadSetup.provision(settings);
        setUp(ChatTraffic.sessions("multi-tenant chat", setup).injectOpen(ChatTraffic.arrivals(settings.arrival())))
                .protocols(ChatTraffic.protocol(settings))
                .assertions(global().failedRequests().count().is(0L),
                        details(ChatTraffic.TTFT).responseTime().percentile(99.0).lt(settings.ttftP99Ms().chat()));
    }
}
