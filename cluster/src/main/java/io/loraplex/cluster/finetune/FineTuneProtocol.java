package io.loraplex.cluster.finetune;

import io.loraplex.cluster.RemoteMessage;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityTypeKey;

/**
 * The event-sourced {@code FineTune} entity, one per tenant (entity id: the tenant id), sharded on
 * the router role: the tenant's training files (their metadata; the bytes are in the file store)
 * and its fine-tuning jobs, which it runs on GPU nodes, retries when a node is lost, and registers
 * through the adapter lifecycle. Because a tenant's entity holds only its own files and jobs,
 * another tenant's id is simply "not found".
 */
public final class FineTuneProtocol {

    public static final EntityTypeKey<Command> TYPE_KEY = EntityTypeKey.create(Command.class, "FineTune");

    /** The purpose training files are uploaded with. */
    public static final String PURPOSE_FINE_TUNE = "fine-tune";

    private FineTuneProtocol() {
    }

    public sealed interface Command extends RemoteMessage
            permits AddFile, ListFiles, GetFile, DeleteFile, CreateJob, ListJobs, GetJob, ListJobEvents, CancelJob {
    }

    /** Why a command was refused; the router maps each to one HTTP status. */
    public enum Error {
        /** No such file or job, or another tenant's (404). */
        NOT_FOUND,
        /** A bad argument (400). */
        INVALID,
        /** Not possible in the current state (409). */
        CONFLICT
    }

    // ---- files

    /**
     * A training file's metadata, as OpenAI's {@code file} object has it, plus its SHA-256 and what
     * validation counted. {@code status}: {@code processed} or {@code error} (then {@code statusDetails}).
     */
    public record FileInfo(String id, String filename, long bytes, String purpose, long createdAtSeconds, String status,
            String statusDetails, String sha256, int examples, long tokens) implements RemoteMessage {
        public FileInfo {
            Objects.requireNonNull(id, "id");
            Objects.requireNonNull(sha256, "sha256");
        }
    }

    /** Records a stored, validated file. */
    public record AddFile(FileInfo file, ActorRef<FileReply> replyTo) implements Command {
    }

    public record ListFiles(ActorRef<FileList> replyTo) implements Command {
    }

    public record GetFile(String fileId, ActorRef<FileReply> replyTo) implements Command {
    }

    /** Forgets a file (the caller then deletes its bytes); refused while a job that is not finished uses it. */
    public record DeleteFile(String fileId, ActorRef<FileReply> replyTo) implements Command {
    }

    /** The file, or {@code error} and {@code message}. */
    public record FileReply(FileInfo file, Error error, String message) implements RemoteMessage {
        public static FileReply ok(FileInfo file) {
            return new FileReply(file, null, null);
        }

        public boolean ok() {
            return error == null;
        }
    }

    /** Oldest first. */
    public record FileList(List<FileInfo> files) implements RemoteMessage {
        public FileList {
            files = List.copyOf(files);
        }
    }

    // ---- jobs

    /** A job's status, named as OpenAI's API names it ({@link #apiName()}). */
    public enum JobStatus {
        VALIDATING_FILES, QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED;

        public String apiName() {
            return name().toLowerCase(Locale.ROOT);
        }

        public boolean finished() {
            return this == SUCCEEDED || this == FAILED || this == CANCELLED;
        }
    }

    /**
     * Why a job, or one attempt of it, failed: the {@code error.code} a client reads. A GPU node
     * reports {@link #INVALID_TRAINING_FILE}, {@link #CANCELLED}, {@link #OUT_OF_MEMORY} and
     * {@link #INTERNAL}; the entity adds the others. Journals keep {@link #apiName()}.
     */
    public enum TrainingFailureCode {
        /** The training data cannot be trained on (a line without an assistant message...): a retry cannot help. */
        INVALID_TRAINING_FILE(true),
        /** The hyperparameters do not fit the node's base (kept: a permanent code nodes may report). */
        INVALID_HYPERPARAMETERS(true),
        /** A file of the job cannot be read (kept: a permanent code nodes may report). */
        INVALID_FILE(true),
        /** The node stopped the attempt because it was asked to. */
        CANCELLED(false),
        /** The node ran out of memory training it. */
        OUT_OF_MEMORY(false),
        /** Anything else that went wrong on the node. */
        INTERNAL(false),
        /** No node serving the job's base model was ready within the queue timeout. */
        NO_GPU_NODE(false),
        /** The fleet serves no base model by the job's {@code model}: a retry cannot help. */
        UNKNOWN_BASE_MODEL(true),
        /** The node running the last attempt stopped or left the cluster. */
        NODE_LOST(false),
        /** The node running the last attempt reported no progress within the progress timeout. */
        TIMEOUT(false),
        /** The service running the job restarted while the last attempt ran. */
        INTERRUPTED(false),
        /** The adapter lifecycle refused the trained adapter (its validation failed). */
        ADAPTER_REJECTED(true),
        /** The adapter lifecycle did not answer the registration of the trained adapter. */
        ADAPTER_REGISTRATION_FAILED(false);

        private final boolean permanent;

        TrainingFailureCode(boolean permanent) {
            this.permanent = permanent;
        }

        /** The code as the API shows it and journals keep it: {@code invalid_training_file}. */
        public String apiName() {
            return name().toLowerCase(Locale.ROOT);
        }

        /** A node failure a retry cannot fix: the job fails at once instead of being queued again. */
        public boolean permanent() {
            return permanent;
        }

        /**
         * The code a journal holds as {@link #apiName()}. Every code ever journaled is listed here;
         * should an unknown one turn up, it reads as {@link #INTERNAL} rather than failing the replay.
         */
        public static TrainingFailureCode ofApiName(String apiName) {
            for (TrainingFailureCode code : values()) {
                if (code.apiName().equals(apiName)) {
                    return code;
                }
            }
            return INTERNAL;
        }
    }

    /**
     * A job as requested; null means "auto" (the entity's defaults).
     *
     * @param model  the base model
     * @param suffix the adapter name the result is registered under (and {@code fine_tuned_model})
     * @param promote false: register the result as a new version but leave the promoted one as it is
     */
    public record JobRequest(String trainingFile, String validationFile, String model, String suffix, Integer nEpochs,
            Integer batchSize, Double learningRateMultiplier, Integer rank, Double alpha, Boolean promote, Long seed)
            implements RemoteMessage {
    }

    public record CreateJob(JobRequest request, ActorRef<JobReply> replyTo) implements Command {
    }

    /** Newest first, {@code limit} of them after the job {@code after} (null: from the newest). */
    public record ListJobs(String after, int limit, ActorRef<JobList> replyTo) implements Command {
    }

    public record GetJob(String jobId, ActorRef<JobReply> replyTo) implements Command {
    }

    /** Newest first, {@code limit} of them after the event {@code after} (null: from the newest). */
    public record ListJobEvents(String jobId, String after, int limit, ActorRef<JobEvents> replyTo) implements Command {
    }

    /** Stops a queued or running job; no adapter version is registered for it. */
    public record CancelJob(String jobId, ActorRef<JobReply> replyTo) implements Command {
    }

    /**
     * A job with its hyperparameters resolved. {@code finishedAtSeconds}, {@code fineTunedModel},
     * {@code trainedTokens} and the error fields are null until they apply. The evaluation: the
     * validation losses of the base and of the trained adapter, the version registered, whether it
     * was promoted and, when not, why.
     */
    public record JobView(String id, String model, long createdAtSeconds, Long finishedAtSeconds, String fineTunedModel,
            JobStatus status, String trainingFile, String validationFile, String suffix, int nEpochs, int batchSize,
            double learningRateMultiplier, int rank, double alpha, boolean promote, long seed, Long trainedTokens,
            TrainingFailureCode errorCode, String errorMessage, String errorParam, Integer adapterVersion, Boolean promoted,
            String evaluationNote, Double baseValidationLoss, Double trainedValidationLoss) implements RemoteMessage {
    }

    public record JobReply(JobView job, Error error, String param, String message) implements RemoteMessage {
        public static JobReply ok(JobView job) {
            return new JobReply(job, null, null, null);
        }

        public boolean ok() {
            return error == null;
        }
    }

    public record JobList(List<JobView> jobs, boolean hasMore) implements RemoteMessage {
        public JobList {
            jobs = List.copyOf(jobs);
        }
    }

    /** The numbers of a {@code metrics} event. */
    public record Metrics(int step, int totalSteps, int epoch, double trainLoss, Double validationLoss) implements RemoteMessage {
    }

    /**
     * One {@code fine_tuning.job.event}: {@code level} info, warn or error; {@code type}
     * {@code message} or {@code metrics} (then {@code data} is set).
     */
    public record JobEvent(String id, long createdAtSeconds, String level, String message, String type, Metrics data)
            implements RemoteMessage {
    }

    /** {@code found} false for an unknown job. */
    public record JobEvents(boolean found, List<JobEvent> events, boolean hasMore) implements RemoteMessage {
        public JobEvents {
            events = List.copyOf(events);
        }
    }
}
