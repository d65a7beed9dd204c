package io.loraplex.router.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.loraplex.cluster.finetune.FineTuneProtocol;
import io.loraplex.cluster.finetune.FineTuneProtocol.JobReply;
import io.loraplex.router.RouterSettings;
import io.loraplex.router.placement.Placement;
import java.util.Iterator;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;

/**
 * {@code /v1/fine_tuning/jobs}: requests translated into the caller's FineTune entity's commands,
 * replies into OpenAI's {@code fine_tuning.job} objects.
 */
final class FineTuningJobsFlow {

    private static final Set<String> FIELDS = Set.of("training_file", "validation_file", "model", "suffix", "hyperparameters", "seed",
            "method", "metadata", "integrations");
    private static final Set<String> HYPERPARAMETERS = Set.of("n_epochs", "batch_size", "learning_rate_multiplier", "rank", "alpha",
            "promote");

    private final FineTuneCalls calls;
    private final RouterSettings router;
    private final Placement placement;

    FineTuningJobsFlow(FineTuneCalls calls, RouterSettings router, Placement placement) {
        this.calls = calls;
        this.router = router;
        this.placement = placement;
    }

    CompletionStage<HttpResponse> create(HttpRequest request) {
        return calls.caller(request).thenCompose(caller -> Bodies.read(request, router.maxBodyBytes(), calls.settings.askTimeout(),
                        calls.system)
                .thenCompose(body -> {
                    FineTuneProtocol.JobRequest job = parse(Json.parseObject(body));
                    Set<String> bases = placement.baseModels();
                    if (!bases.isEmpty() && !bases.contains(job.model())) {
                        throw ApiError.invalid("model", "Model " + job.model() + " is not available for fine-tuning; the base models"
                                + " are " + bases).toException();
                    }
                    if (job.suffix() != null && bases.contains(job.suffix())) {
                        // the job's adapter is named by its suffix: named like a base, requests naming it would reach the base
                        throw ApiError.invalid("suffix", "the suffix '" + job.suffix() + "' is the id of a base model; the fine-tuned"
                                + " adapter is named by it and requests naming it would reach the base model, so choose another suffix")
                                .toException();
                    }
                    return calls.<JobReply>ask(caller, r -> new FineTuneProtocol.CreateJob(job, r));
                })
                .thenApply(reply -> Responses.json(200, FineTuneJson.job(found(reply), caller.tenant()))))
                .exceptionally(FilesFlow::failed);
    }

    /** The body of a create request; hyperparameters from {@code hyperparameters} or {@code method.supervised.hyperparameters}. */
    static FineTuneProtocol.JobRequest parse(ObjectNode body) {
        for (Iterator<String> it = body.fieldNames(); it.hasNext(); ) {
            String field = it.next();
            if (!FIELDS.contains(field)) {
                throw ApiError.unknown(field).toException();
            }
        }
        if (body.hasNonNull("integrations") && !body.get("integrations").isEmpty()) {
            throw ApiError.unsupported("integrations").toException();
        }
        JsonNode h = body.get("hyperparameters");
        String prefix = "hyperparameters.";
        JsonNode method = body.get("method");
        if (method != null && !method.isNull()) {
            if (!"supervised".equals(method.path("type").asText("supervised"))) {
                throw ApiError.invalid("method.type", "only the 'supervised' method is supported").toException();
            }
            JsonNode nested = method.path("supervised").path("hyperparameters");
            if (!nested.isMissingNode() && !nested.isNull()) {
                h = nested;
                prefix = "method.supervised.hyperparameters.";
            }
        }
        if (h != null && !h.isNull()) {
            if (!h.isObject()) {
                throw ApiError.wrongType("hyperparameters", "an object").toException();
            }
            for (Iterator<String> it = h.fieldNames(); it.hasNext(); ) {
                String field = it.next();
                if (!HYPERPARAMETERS.contains(field)) {
                    throw ApiError.unknown(prefix + field).toException();
                }
            }
        } else {
            h = Json.object();
        }
        return new FineTuneProtocol.JobRequest(
                requiredText(body, "training_file"), text(body, "validation_file"), requiredText(body, "model"), text(body, "suffix"),
                integer(h, "n_epochs", prefix), integer(h, "batch_size", prefix), number(h, "learning_rate_multiplier", prefix),
                integer(h, "rank", prefix), number(h, "alpha", prefix), bool(h, "promote", prefix),
                body.hasNonNull("seed") ? integerValue(body.get("seed"), "seed").longValue() : null);
    }

    private static String requiredText(JsonNode o, String field) {
        String value = text(o, field);
        if (value == null || value.isBlank()) {
            throw ApiError.invalid(field, "'" + field + "' is required").toException();
        }
        return value;
    }

    private static String text(JsonNode o, String field) {
        JsonNode v = o.get(field);
        if (v == null || v.isNull()) {
            return null;
        }
        if (!v.isTextual()) {
            throw ApiError.wrongType(field, "a string").toException();
        }
        return v.asText();
    }

    private static boolean auto(JsonNode v) {
        return v == null || v.isNull() || (v.isTextual() && v.asText().equals("auto"));
    }

    private static Integer integer(JsonNode o, String field, String prefix) {
        JsonNode v = o.get(field);
        return auto(v) ? null : integerValue(v, prefix + field);
    }

    private static Integer integerValue(JsonNode v, String param) {
        if (!v.isIntegralNumber() || !v.canConvertToInt()) {
            throw ApiError.wrongType(param, "an integer or \"auto\"").toException();
        }
        return v.asInt();
    }

    private static Double number(JsonNode o, String field, String prefix) {
        JsonNode v = o.get(field);
        if (auto(v)) {
            return null;
        }
        if (!v.isNumber()) {
            throw ApiError.wrongType(prefix + field, "a number or \"auto\"").toException();
        }
        return v.asDouble();
    }

    private static Boolean bool(JsonNode o, String field, String prefix) {
        JsonNode v = o.get(field);
        if (v == null || v.isNull()) {
            return null;
        }
        if (!v.isBoolean()) {
            throw ApiError.wrongType(prefix + field, "a boolean").toException();
        }
        return v.asBoolean();
    }

    CompletionStage<HttpResponse> list(HttpRequest request) {
        return calls.caller(request).thenCompose(caller -> {
                    String after = request.getUri().query().get("after").orElse(null);
                    int limit = limit(request);
                    return calls.<FineTuneProtocol.JobList>ask(caller, r -> new FineTuneProtocol.ListJobs(after, limit, r))
                            .thenApply(list -> Responses.json(200, FineTuneJson.list(list.jobs(),
                                    j -> FineTuneJson.job(j, caller.tenant()), list.hasMore())));
                })
                .exceptionally(FilesFlow::failed);
    }

    CompletionStage<HttpResponse> get(HttpRequest request, String jobId) {
        return calls.caller(request).thenCompose(caller -> calls.<JobReply>ask(caller, r -> new FineTuneProtocol.GetJob(jobId, r))
                        .thenApply(reply -> Responses.json(200, FineTuneJson.job(found(reply), caller.tenant()))))
                .exceptionally(FilesFlow::failed);
    }

    CompletionStage<HttpResponse> events(HttpRequest request, String jobId) {
        return calls.caller(request).thenCompose(caller -> {
                    String after = request.getUri().query().get("after").orElse(null);
                    int limit = limit(request);
                    return calls.<FineTuneProtocol.JobEvents>ask(caller, r -> new FineTuneProtocol.ListJobEvents(jobId, after, limit, r));
                })
                .thenApply(events -> {
                    if (!events.found()) {
                        throw FineTuneCalls.error(FineTuneProtocol.Error.NOT_FOUND, "fine_tuning_job_id",
                                "No such fine-tuning job: " + jobId).toException();
                    }
                    return Responses.json(200, FineTuneJson.list(events.events(), FineTuneJson::event, events.hasMore()));
                })
                .exceptionally(FilesFlow::failed);
    }

    CompletionStage<HttpResponse> cancel(HttpRequest request, String jobId) {
        return calls.caller(request).thenCompose(caller -> calls.<JobReply>ask(caller, r -> new FineTuneProtocol.CancelJob(jobId, r))
                        .thenApply(reply -> Responses.json(200, FineTuneJson.job(found(reply), caller.tenant()))))
                .exceptionally(FilesFlow::failed);
    }

    /** {@code limit}: 1 to 100, 20 when absent. */
    private static int limit(HttpRequest request) {
        Optional<String> raw = request.getUri().query().get("limit");
        if (raw.isEmpty()) {
            return 20;
        }
        try {
            int limit = Integer.parseInt(raw.get());
            if (limit >= 1 && limit <= 100) {
                return limit;
            }
        } catch (NumberFormatException e) {
            // answered below
        }
        throw ApiError.invalid("limit", "'limit' must be an integer from 1 to 100, got '" + raw.get() + "'").toException();
    }

    private static FineTuneProtocol.JobView found(JobReply reply) {
        if (!reply.ok()) {
            throw FineTuneCalls.error(reply.error(), reply.param(), reply.message()).toException();
        }
        return reply.job();
    }
}
