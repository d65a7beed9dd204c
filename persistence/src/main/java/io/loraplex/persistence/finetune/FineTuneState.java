package io.loraplex.persistence.finetune;

import io.loraplex.cluster.finetune.FineTuneProtocol.TrainingFailureCode;
import io.loraplex.cluster.finetune.FineTuneProtocol.FileInfo;
import io.loraplex.cluster.finetune.FineTuneProtocol.JobEvent;
import io.loraplex.cluster.finetune.FineTuneProtocol.JobStatus;
import io.loraplex.cluster.finetune.FineTuneProtocol.JobView;
import io.loraplex.cluster.finetune.FineTuneProtocol.Metrics;
import io.loraplex.persistence.CborSerializable;
import io.loraplex.persistence.finetune.FineTuneEvent.FileAdded;
import io.loraplex.persistence.finetune.FineTuneEvent.FileDeleted;
import io.loraplex.persistence.finetune.FineTuneEvent.JobAttemptFailed;
import io.loraplex.persistence.finetune.FineTuneEvent.JobCancelled;
import io.loraplex.persistence.finetune.FineTuneEvent.JobCreated;
import io.loraplex.persistence.finetune.FineTuneEvent.JobDispatched;
import io.loraplex.persistence.finetune.FineTuneEvent.JobFailed;
import io.loraplex.persistence.finetune.FineTuneEvent.JobProgressed;
import io.loraplex.persistence.finetune.FineTuneEvent.JobQueued;
import io.loraplex.persistence.finetune.FineTuneEvent.JobStarted;
import io.loraplex.persistence.finetune.FineTuneEvent.JobSucceeded;
import io.loraplex.persistence.finetune.FineTuneEvent.JobTrained;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A tenant's training files and fine-tuning jobs, as recovered from {@link FineTuneEvent}s (and
 * snapshotted as CBOR). Immutable: {@link #apply} returns the next state. Maps keep insertion
 * order, so files list oldest first and jobs newest first.
 */
public record FineTuneState(Map<String, FileInfo> files, Map<String, Job> jobs) implements CborSerializable {

    public static final FineTuneState EMPTY = new FineTuneState(Map.of(), Map.of());

    /** A job's request with every "auto" resolved. */
    public record JobSpec(String model, String trainingFile, String validationFile, String suffix, int nEpochs, int batchSize,
            double learningRateMultiplier, int rank, double alpha, boolean promote, long seed) {
    }

    /** What the node produced; {@code hash} in hex. */
    public record Result(String hash, long bytes, long trainedTokens, double baseValidationLoss, double trainedValidationLoss) {
    }

    /**
     * One job. {@code attempt}: attempts dispatched so far; {@code node}: the node of the current
     * attempt, null while queued; {@code lastNode}: the node of the latest attempt, kept after it
     * ended (what a retry avoids), null before the first. Both hold a {@code NodeId}'s value (in
     * journals written before issue 16, an actor path: only displayed and tested for null, it
     * matches no node). {@code queuedAtMillis}: since when it waits for a node. {@code errorCode}:
     * a {@link TrainingFailureCode}'s {@code apiName}, as journaled.
     */
    public record Job(String id, JobSpec spec, long createdAtMillis, JobStatus status, int attempt, String node,
            long queuedAtMillis, Result result, Integer version, Boolean promoted, String note, String errorCode,
            String errorMessage, String errorParam, Long finishedAtMillis, List<JobEvent> events, String lastNode) {

        /** Waiting for a node, or trained and being registered: what recovery must pick up again. */
        public boolean active() {
            return !status.finished();
        }

        public boolean uses(String fileId) {
            return fileId.equals(spec.trainingFile()) || fileId.equals(spec.validationFile());
        }

        public JobView view() {
            return new JobView(id, spec.model(), createdAtMillis / 1000, finishedAtMillis == null ? null : finishedAtMillis / 1000,
                    status == JobStatus.SUCCEEDED ? spec.suffix() : null, status, spec.trainingFile(), spec.validationFile(),
                    spec.suffix(), spec.nEpochs(), spec.batchSize(), spec.learningRateMultiplier(), spec.rank(), spec.alpha(),
                    spec.promote(), spec.seed(), result == null ? null : result.trainedTokens(),
                    errorCode == null ? null : TrainingFailureCode.ofApiName(errorCode), errorMessage,
                    errorParam, version, promoted, note, result == null ? null : result.baseValidationLoss(),
                    result == null ? null : result.trainedValidationLoss());
        }

        Job status(JobStatus s) {
            return new Job(id, spec, createdAtMillis, s, attempt, node, queuedAtMillis, result, version, promoted, note, errorCode,
                    errorMessage, errorParam, finishedAtMillis, events, lastNode);
        }

        Job attempt(int a, String n, long queuedAt) {
            return new Job(id, spec, createdAtMillis, status, a, n, queuedAt, result, version, promoted, note, errorCode,
                    errorMessage, errorParam, finishedAtMillis, events, n == null ? lastNode : n);
        }

        Job result(Result r) {
            return new Job(id, spec, createdAtMillis, status, attempt, node, queuedAtMillis, r, version, promoted, note, errorCode,
                    errorMessage, errorParam, finishedAtMillis, events, lastNode);
        }

        Job succeeded(int v, boolean p, String n, long at) {
            return new Job(id, spec, createdAtMillis, JobStatus.SUCCEEDED, attempt, null, queuedAtMillis, result, v, p, n,
                    errorCode, errorMessage, errorParam, at, events, lastNode);
        }

        Job failed(JobStatus s, String code, String message, String param, long at) {
            return new Job(id, spec, createdAtMillis, s, attempt, null, queuedAtMillis, result, version, promoted, note, code,
                    message, param, at, events, lastNode);
        }

        /** With one more API event, keeping the newest {@code max}. */
        Job event(long atMillis, String level, String message, Metrics data, int max) {
            List<JobEvent> next = new ArrayList<>(events.size() + 1);
            next.addAll(events.size() >= max ? events.subList(events.size() - max + 1, events.size()) : events);
            int seq = events.isEmpty() ? 1 : sequenceOf(events.get(events.size() - 1)) + 1;
            next.add(new JobEvent("ftevent-" + id.substring("ftjob-".length()) + "-" + seq, atMillis / 1000, level, message,
                    data == null ? "message" : "metrics", data));
            return new Job(id, spec, createdAtMillis, status, attempt, node, queuedAtMillis, result, version, promoted, note,
                    errorCode, errorMessage, errorParam, finishedAtMillis, List.copyOf(next), lastNode);
        }

        private static int sequenceOf(JobEvent e) {
            return Integer.parseInt(e.id().substring(e.id().lastIndexOf('-') + 1));
        }
    }

    public FileInfo file(String id) {
        return files.get(id);
    }

    public Job job(String id) {
        return jobs.get(id);
    }

    /** The next state after {@code event}; {@code maxEvents} bounds each job's API events. */
    public FineTuneState apply(FineTuneEvent event, int maxEvents) {
        return switch (event) {
            case FileAdded e -> withFile(e.file().id(), e.file());
            case FileDeleted e -> withFile(e.fileId(), null);
            case JobCreated e -> withJob(new Job(e.jobId(), e.spec(), e.atMillis(), JobStatus.VALIDATING_FILES, 0, null, e.atMillis(),
                    null, null, null, null, null, null, null, null, List.of(), null)
                    .event(e.atMillis(), "info", "Created fine-tuning job: " + e.jobId(), null, maxEvents)
                    .event(e.atMillis(), "info", "Validating training file: " + e.spec().trainingFile()
                            + (e.spec().validationFile() == null ? "" : " and validation file: " + e.spec().validationFile()),
                            null, maxEvents));
            case JobQueued e -> withJob(job(e.jobId()).status(JobStatus.QUEUED).attempt(0, null, e.atMillis())
                    .event(e.atMillis(), "info", "Files validated, moving job to queued state", null, maxEvents));
            case JobDispatched e -> withJob(job(e.jobId()).attempt(e.attempt(), e.node(), job(e.jobId()).queuedAtMillis())
                    .event(e.atMillis(), "info", "Sent to GPU node " + e.node() + " (attempt " + e.attempt() + ")", null, maxEvents));
            case JobStarted e -> withJob(job(e.jobId()).status(JobStatus.RUNNING)
                    .event(e.atMillis(), "info", "Fine-tuning job started: " + e.trainExamples() + " examples, " + e.totalSteps()
                            + " steps", null, maxEvents));
            case JobProgressed e -> withJob(job(e.jobId()).event(e.atMillis(), "info", progressMessage(e),
                    new Metrics(e.step(), e.totalSteps(), e.epoch(), e.trainLoss(), e.validationLoss()), maxEvents));
            case JobAttemptFailed e -> withJob(job(e.jobId()).status(JobStatus.QUEUED).attempt(e.attempt(), null, e.atMillis())
                    .event(e.atMillis(), "warn", "Attempt " + e.attempt() + " failed: " + e.reason() + "; the job is queued again",
                            null, maxEvents));
            case JobTrained e -> withJob(job(e.jobId()).result(new Result(e.hash(), e.bytes(), e.trainedTokens(),
                            e.baseValidationLoss(), e.trainedValidationLoss()))
                    .event(e.atMillis(), "info", String.format(Locale.ROOT,
                            "Training done: %d tokens trained; validation loss %.4f (base %.4f)", e.trainedTokens(),
                            e.trainedValidationLoss(), e.baseValidationLoss()), null, maxEvents));
            case JobSucceeded e -> {
                Job done = job(e.jobId()).succeeded(e.version(), e.promoted(), e.note(), e.atMillis());
                done = done.event(e.atMillis(), "info", "New fine-tuned model created: " + done.spec().suffix() + " (version "
                        + e.version() + ")", null, maxEvents);
                if (!e.promoted()) {
                    done = done.event(e.atMillis(), "warn", "Not promoted: " + e.note(), null, maxEvents);
                }
                yield withJob(done.event(e.atMillis(), "info", "The job has successfully completed", null, maxEvents));
            }
            case JobFailed e -> withJob(job(e.jobId()).failed(JobStatus.FAILED, e.code(), e.message(), e.param(), e.atMillis())
                    .event(e.atMillis(), "error", "The job failed: " + e.message(), null, maxEvents));
            case JobCancelled e -> withJob(job(e.jobId()).failed(JobStatus.CANCELLED, null, null, null, e.atMillis())
                    .event(e.atMillis(), "info", "The job was cancelled", null, maxEvents));
        };
    }

    private static String progressMessage(JobProgressed e) {
        String text = String.format(Locale.ROOT, "Step %d/%d: training loss=%.4f", e.step(), e.totalSteps(), e.trainLoss());
        return e.validationLoss() == null ? text
                : text + String.format(Locale.ROOT, ", validation loss=%.4f (epoch %d)", e.validationLoss(), e.epoch());
    }

    private FineTuneState withFile(String id, FileInfo file) {
        Map<String, FileInfo> next = new LinkedHashMap<>(files);
        if (file == null) {
            next.remove(id);
        } else {
            next.put(id, file);
        }
        return new FineTuneState(next, jobs);
    }

    private FineTuneState withJob(Job job) {
        Map<String, Job> next = new LinkedHashMap<>(jobs);
        next.put(job.id(), job);
        return new FineTuneState(files, next);
    }
}
