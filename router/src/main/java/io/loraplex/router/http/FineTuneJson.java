package io.loraplex.router.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.loraplex.cluster.TenantId;
import io.loraplex.cluster.finetune.FineTuneProtocol.FileInfo;
import io.loraplex.cluster.finetune.FineTuneProtocol.JobEvent;
import io.loraplex.cluster.finetune.FineTuneProtocol.JobView;
import java.util.List;
import java.util.function.Function;

/**
 * OpenAI's {@code file}, {@code fine_tuning.job}, {@code fine_tuning.job.event} and {@code list}
 * objects. What OpenAI's objects lack (LoRA rank and alpha, the evaluation and promotion) is in a
 * {@code loraplex} object of the job, which clients ignore.
 */
final class FineTuneJson {

    private FineTuneJson() {
    }

    static ObjectNode file(FileInfo f) {
        ObjectNode o = Json.object();
        o.put("object", "file");
        o.put("id", f.id());
        o.put("bytes", f.bytes());
        o.put("created_at", f.createdAtSeconds());
        o.put("filename", f.filename());
        o.put("purpose", f.purpose());
        o.put("status", f.status());
        o.put("status_details", f.statusDetails());
        return o;
    }

    static ObjectNode deletedFile(String id) {
        ObjectNode o = Json.object();
        o.put("id", id);
        o.put("object", "file");
        o.put("deleted", true);
        return o;
    }

    static ObjectNode job(JobView j, TenantId tenant) {
        ObjectNode o = Json.object();
        o.put("object", "fine_tuning.job");
        o.put("id", j.id());
        o.put("model", j.model());
        o.put("created_at", j.createdAtSeconds());
        putLong(o, "finished_at", j.finishedAtSeconds());
        o.put("fine_tuned_model", j.fineTunedModel());
        o.put("organization_id", tenant.value());
        o.putArray("result_files");
        o.put("status", j.status().apiName());
        o.put("validation_file", j.validationFile());
        o.put("training_file", j.trainingFile());
        o.set("hyperparameters", hyperparameters(j));
        putLong(o, "trained_tokens", j.trainedTokens());
        if (j.errorCode() == null) {
            o.putNull("error");
        } else {
            ObjectNode error = o.putObject("error");
            error.put("code", j.errorCode().apiName());
            error.put("message", j.errorMessage());
            error.put("param", j.errorParam());
        }
        o.put("seed", j.seed());
        o.putNull("estimated_finish");
        o.putNull("integrations");
        o.put("user_provided_suffix", j.suffix());
        o.putNull("metadata");
        ObjectNode method = o.putObject("method");
        method.put("type", "supervised");
        method.putObject("supervised").set("hyperparameters", hyperparameters(j));
        ObjectNode ours = o.putObject("loraplex");
        ours.put("adapter", j.suffix());
        ours.put("rank", j.rank());
        ours.put("alpha", j.alpha());
        ours.put("promote", j.promote());
        if (j.adapterVersion() == null) {
            ours.putNull("adapter_version");
        } else {
            ours.put("adapter_version", j.adapterVersion());
        }
        if (j.promoted() == null) {
            ours.putNull("promoted");
        } else {
            ours.put("promoted", j.promoted());
        }
        ours.put("evaluation_note", j.evaluationNote());
        putDouble(ours, "base_validation_loss", j.baseValidationLoss());
        putDouble(ours, "trained_validation_loss", j.trainedValidationLoss());
        return o;
    }

    private static ObjectNode hyperparameters(JobView j) {
        ObjectNode h = Json.object();
        h.put("n_epochs", j.nEpochs());
        h.put("batch_size", j.batchSize());
        h.put("learning_rate_multiplier", j.learningRateMultiplier());
        return h;
    }

    static ObjectNode event(JobEvent e) {
        ObjectNode o = Json.object();
        o.put("object", "fine_tuning.job.event");
        o.put("id", e.id());
        o.put("created_at", e.createdAtSeconds());
        o.put("level", e.level());
        o.put("message", e.message());
        o.put("type", e.type());
        ObjectNode data = o.putObject("data");
        if (e.data() != null) {
            data.put("step", e.data().step());
            data.put("total_steps", e.data().totalSteps());
            data.put("epoch", e.data().epoch());
            data.put("train_loss", e.data().trainLoss());
            putDouble(data, "valid_loss", e.data().validationLoss());
        }
        return o;
    }

    static <T> ObjectNode list(List<T> items, Function<T, JsonNode> render, boolean hasMore) {
        ObjectNode o = Json.object();
        o.put("object", "list");
        ArrayNode data = o.putArray("data");
        items.forEach(i -> data.add(render.apply(i)));
        o.put("has_more", hasMore);
        return o;
    }

    private static void putLong(ObjectNode o, String field, Long value) {
        if (value == null) {
            o.putNull(field);
        } else {
            o.put(field, value);
        }
    }

    private static void putDouble(ObjectNode o, String field, Double value) {
        if (value == null) {
            o.putNull(field);
        } else {
            o.put(field, value);
        }
    }
}
