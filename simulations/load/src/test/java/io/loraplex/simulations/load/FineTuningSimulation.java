package io.loraplex.simulations.load;

import static io.gatling.javaapi.core.CoreDsl.StringBody;
import static io.gatling.javaapi.core.CoreDsl.details;
import static io.gatling.javaapi.core.CoreDsl.exec;
import static io.gatling.javaapi.core.CoreDsl.global;
import static io.gatling.javaapi.core.CoreDsl.jsonPath;
import static io.gatling.javaapi.core.CoreDsl.rampUsers;
import static io.gatling.javaapi.core.CoreDsl.scenario;
import static io.gatling.javaapi.http.HttpDsl.http;
import static io.gatling.javaapi.http.HttpDsl.status;

import io.gatling.javaapi.core.ScenarioBuilder;
import io.gatling.javaapi.core.Simulation;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

/**
 * Fine-tuning while chat runs: tenants upload a training file ({@code POST /v1/files}) and submit a job
 * ({@code POST /v1/fine_tuning/jobs}) in the middle of the chat load, poll it until it ends, require it to succeed, and
 * chat once with the adapter it trained. Asserts no failed request (a failed or timed-out job is one) and time to first
 * token p99 under {@code loraplex.load.ttft-p99-ms.fine-tuning}.
 */
// Gatling's DSL declares the run in the constructor (setUp), so "this" escapes by design
@SuppressWarnings("this-escape")
public class FineTuningSimulation extends Simulation {

    static final Set<String> FINISHED = Set.of("succeeded", "failed", "cancelled");

    /** One question and answer pair per question of the chat load (eight), in OpenAI's chat format, as the demo tenants' data. */
    static String trainingFile() {
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < ChatBodies.QUESTIONS.size(); i++) {
            out.append("{\"messages\": [{\"role\": \"user\", \"content\": \"").append(ChatBodies.QUESTIONS.get(i))
                    .append("\"}, {\"role\": \"assistant\", \"content\": \"Answer number ").append(i + 1).append(", friend!\"}]}\n");
        }
        return out.toString();
    }

    {
        LoadSettings settings = LoadSettings.fromSystem();
        LoadSetup setup = LoadSetup.provision(settings);
        Path data;
        try {
            data = Files.writeString(setup.work().resolve("training.jsonl"), trainingFile());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the training file: " + e.getMessage(), e);
        }
        setUp(ChatTraffic.sessions("multi-tenant chat", setup).injectOpen(ChatTraffic.arrivals(settings.arrival())),
                jobs(setup, data).injectOpen(rampUsers(settings.fineTuningJobs()).during(settings.arrival().steady())))
                .protocols(ChatTraffic.protocol(settings))
                .assertions(global().failedRequests().count().is(0L),
                        details(ChatTraffic.TTFT).responseTime().percentile(99.0).lt(settings.ttftP99Ms().fineTuning()));
    }

    private static ScenarioBuilder jobs(LoadSetup setup, Path data) {
        AtomicInteger next = new AtomicInteger();
        Iterator<Map<String, Object>> feeder = Stream.generate(() -> {
            int n = next.getAndIncrement();
            LoadSetup.Tenant t = setup.tenants().get(n % setup.tenants().size());
            return Map.<String, Object>of("manageKey", t.manageKey(), "suffix", "tuned-" + n);
        }).iterator();
        String body = "{\"training_file\": \"#{fileId}\", \"model\": \"" + setup.baseModel() + "\", \"suffix\": \"#{suffix}\", "
                + "\"hyperparameters\": {\"n_epochs\": " + setup.settings().fineTuningEpochs() + "}}";
        return scenario("fine-tuning jobs").pause(setup.settings().arrival().ramp()).feed(feeder)
                .exec(http("upload training file").post("/v1/files").header("Authorization", "Bearer #{manageKey}")
                        .formParam("purpose", "fine-tune").formUpload("file", data.toAbsolutePath().toString())
                        .check(status().in(200, 201), jsonPath("$.id").saveAs("fileId")))
                .exec(http("create job").post("/v1/fine_tuning/jobs").header("Authorization", "Bearer #{manageKey}").header("Content-Type", "application/json").body(StringBody(body))
                        .check(status().in(200, 201), jsonPath("$.id").saveAs("jobId"), jsonPath("$.status").saveAs("jobStatus")))
                .asLongAsDuring(session -> !FINISHED.contains(session.getString("jobStatus")), setup.settings().fineTuningTimeout()).on(
                        exec(http("job status").get("/v1/fine_tuning/jobs/#{jobId}").header("Authorization", "Bearer #{manageKey}")
                                .check(status().is(200), jsonPath("$.status").saveAs("jobStatus")))
                                .pause(1))
                // a job still running after the timeout, or one that failed, fails here
                .exec(http("job succeeded").get("/v1/fine_tuning/jobs/#{jobId}").header("Authorization", "Bearer #{manageKey}")
                        .check(status().is(200), jsonPath("$.status").is("succeeded"), jsonPath("$.fine_tuned_model").saveAs("tuned")))
                .exitHereIfFailed()
                .exec(http("chat with the trained adapter").post("/v1/chat/completions").header("Authorization", "Bearer #{manageKey}")
                        .header("Content-Type", "application/json").body(StringBody("{\"model\": \"#{tuned}\", \"max_tokens\": 8, \"temperature\": 0, \"messages\": "
                                + "[{\"role\": \"user\", \"content\": \"Where are you?\"}]}"))
                        .check(status().is(200), jsonPath("$.choices[0].message.content").exists()));
    }
}
