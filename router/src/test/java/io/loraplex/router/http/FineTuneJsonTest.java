package io.loraplex.router.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.loraplex.cluster.TenantId;
import io.loraplex.cluster.finetune.FineTuneProtocol.JobStatus;
import io.loraplex.cluster.finetune.FineTuneProtocol.JobView;
import io.loraplex.cluster.finetune.FineTuneProtocol.TrainingFailureCode;
import org.junit.jupiter.api.Test;

/** A failed job's {@code error.code} is the typed code's API name: the JSON clients read is what it always was. */
class FineTuneJsonTest {

    static JobView job(TrainingFailureCode code) {
        return new JobView("ftjob-1", "test-base", 1, code == null ? null : 2L, null, code == null ? JobStatus.RUNNING
                : JobStatus.FAILED, "file-1", null, "cafe", 1, 1, 1.0, 8, 16.0, true, 42, null, code,
                code == null ? null : "why", code == TrainingFailureCode.UNKNOWN_BASE_MODEL ? "model" : null, null, null, null,
                null, null);
    }

    @Test
    void aFailedJobsErrorCodeIsItsApiName() {
        ObjectNode timeout = FineTuneJson.job(job(TrainingFailureCode.TIMEOUT), new TenantId("acme"));
        assertEquals("timeout", timeout.at("/error/code").asText());
        assertEquals("why", timeout.at("/error/message").asText());
        ObjectNode invalid = FineTuneJson.job(job(TrainingFailureCode.INVALID_TRAINING_FILE), new TenantId("acme"));
        assertEquals("invalid_training_file", invalid.at("/error/code").asText());
        ObjectNode unknown = FineTuneJson.job(job(TrainingFailureCode.UNKNOWN_BASE_MODEL), new TenantId("acme"));
        assertEquals("unknown_base_model", unknown.at("/error/code").asText());
        assertEquals("model", unknown.at("/error/param").asText());
    }

    @Test
    void aJobThatDidNotFailHasANullError() {
        assertTrue(FineTuneJson.job(job(null), new TenantId("acme")).get("error").isNull());
    }
}
