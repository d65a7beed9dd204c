package io.loraplex.persistence.finetune;

import io.loraplex.cluster.finetune.FineTuneProtocol.FileInfo;
import io.loraplex.persistence.CborSerializable;

/**
 * What the {@code FineTune} entity journals, as Jackson CBOR. Every job event carries its time
 * ({@code atMillis}); the job's {@code fine_tuning.job.event}s are derived from these when they
 * are applied, so the API's events survive restarts without being journaled twice.
 */
public sealed interface FineTuneEvent extends CborSerializable
        permits FineTuneEvent.FileAdded, FineTuneEvent.FileDeleted, FineTuneEvent.JobCreated, FineTuneEvent.JobQueued,
        FineTuneEvent.JobDispatched, FineTuneEvent.JobStarted, FineTuneEvent.JobProgressed, FineTuneEvent.JobAttemptFailed,
        FineTuneEvent.JobTrained, FineTuneEvent.JobSucceeded, FineTuneEvent.JobFailed, FineTuneEvent.JobCancelled {

    record FileAdded(FileInfo file) implements FineTuneEvent {
    }

    record FileDeleted(String fileId, long atMillis) implements FineTuneEvent {
    }

    /** A job accepted with its resolved hyperparameters; it validates its files next. */
    record JobCreated(String jobId, FineTuneState.JobSpec spec, long atMillis) implements FineTuneEvent {
    }

    /** Its files are there and valid: it waits for a GPU node. */
    record JobQueued(String jobId, long atMillis) implements FineTuneEvent {
    }

    /**
     * Attempt {@code attempt} sent to the node {@code node}: a {@code NodeId}'s value, as placement
     * named it (an actor path in events journaled before issue 16).
     */
    record JobDispatched(String jobId, int attempt, String node, long atMillis) implements FineTuneEvent {
    }

    /** The node began training. */
    record JobStarted(String jobId, int attempt, String node, int trainExamples, int totalSteps, long atMillis)
            implements FineTuneEvent {
    }

    record JobProgressed(String jobId, int step, int totalSteps, int epoch, double trainLoss, Double validationLoss, long atMillis)
            implements FineTuneEvent {
    }

    /** An attempt was lost (node gone, no progress, a restart, a node error); the job is queued again. */
    record JobAttemptFailed(String jobId, int attempt, String reason, long atMillis) implements FineTuneEvent {
    }

    /** The node stored the adapter ({@code hash}, hex) in the blob store; it is being registered. */
    record JobTrained(String jobId, String hash, long bytes, long trainedTokens, double baseValidationLoss,
            double trainedValidationLoss, long atMillis) implements FineTuneEvent {
    }

    /** Registered as {@code version}; promoted or not, with {@code note} saying why not. */
    record JobSucceeded(String jobId, int version, boolean promoted, String note, long atMillis) implements FineTuneEvent {
    }

    /** The job failed: {@code code} is a {@code TrainingFailureCode}'s {@code apiName}, journaled as the string the API shows. */
    record JobFailed(String jobId, String code, String message, String param, long atMillis) implements FineTuneEvent {
    }

    record JobCancelled(String jobId, long atMillis) implements FineTuneEvent {
    }
}
