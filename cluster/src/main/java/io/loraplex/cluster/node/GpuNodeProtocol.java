package io.loraplex.cluster.node;

import io.loraplex.cluster.AdapterRef;
import io.loraplex.cluster.ContentHash;
import io.loraplex.cluster.NodeId;
import io.loraplex.cluster.RemoteMessage;
import io.loraplex.cluster.TenantId;
import io.loraplex.cluster.files.FileStoreProtocol.FileRef;
import io.loraplex.cluster.finetune.FineTuneProtocol.TrainingFailureCode;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.receptionist.ServiceKey;
import org.apache.pekko.stream.SourceRef;

/**
 * What other roles ask of a GPU node, and what it answers. A node tokenizes and applies its base
 * model's chat template itself, so callers send text and messages, never token ids.
 */
public final class GpuNodeProtocol {

    /** GPU nodes register under this key with the receptionist. */
    public static final ServiceKey<Command> SERVICE_KEY = ServiceKey.create(Command.class, "loraplex-gpu-node");

    private GpuNodeProtocol() {
    }

    public sealed interface Command extends RemoteMessage
            permits Generate, LoadAdapter, EvictAdapter, ValidateAdapter, GetStats, ValidateTrainingFile, TrainAdapter,
            CancelTraining, PinAdapter, DropAdapter, SetDraining, Leave {
    }

    /**
     * One chat message. Beyond role and content, what tool use adds (OpenAI's fields, which chat
     * templates read as such): an assistant's {@code tool_calls}, a tool message's {@code tool_call_id},
     * and the optional participant or tool {@code name}.
     *
     * @param content    "" where the client sent none (an assistant message holding only tool calls)
     * @param toolCalls  the calls an assistant message made; empty for every other message
     * @param toolCallId the call a {@code tool} message answers; null for every other message
     * @param name       null when not given
     */
    public record ChatMessage(String role, String content, List<ToolCall> toolCalls, String toolCallId, String name)
            implements RemoteMessage {
        public ChatMessage {
            Objects.requireNonNull(role, "role");
            Objects.requireNonNull(content, "content");
            toolCalls = toolCalls == null ? List.of() : List.copyOf(toolCalls);
        }

        /** A message with no tool fields. */
        public ChatMessage(String role, String content) {
            this(role, content, List.of(), null, null);
        }
    }

    /**
     * A function call an assistant made, as OpenAI writes it in {@code tool_calls}.
     *
     * @param argumentsJson the arguments as the JSON text OpenAI sends ({@code function.arguments})
     */
    public record ToolCall(String id, String name, String argumentsJson) implements RemoteMessage {
        public ToolCall {
            Objects.requireNonNull(id, "id");
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(argumentsJson, "argumentsJson");
        }
    }

    /** A prompt: chat messages (rendered with the base's chat template), raw text, or token ids. */
    public sealed interface Prompt extends RemoteMessage permits ChatPrompt, TextPrompt, TokenPrompt {
    }

    /**
     * Messages for the base's chat template.
     *
     * @param toolsJson the tools the template renders, as a JSON array in OpenAI's shape
     *                  ({@code [{"type":"function","function":{name, description, parameters}}]}); null: none
     */
    public record ChatPrompt(List<ChatMessage> messages, String toolsJson) implements Prompt {
        public ChatPrompt {
            messages = List.copyOf(messages);
        }

        /** Messages without tools. */
        public ChatPrompt(List<ChatMessage> messages) {
            this(messages, null);
        }
    }

    public record TextPrompt(String text) implements Prompt {
    }

    /**
     * Token ids of the base's tokenizer, run as they are (no special tokens added), as OpenAI's
     * {@code /v1/completions} takes them. The router checks they are not negative; the node, that
     * its tokenizer knows them.
     *
     * @param ids (T) the prompt's tokens; at least one
     */
    public record TokenPrompt(int[] ids) implements Prompt {
        public TokenPrompt {
            ids = ids.clone();
        }

        @Override
        public int[] ids() {
            return ids.clone();
        }

        /** Tokens in the prompt, without copying them. */
        public int length() {
            return ids.length;
        }

        // an array component compares by reference; a prompt is its ids
        @Override
        public boolean equals(Object o) {
            return o instanceof TokenPrompt t && java.util.Arrays.equals(ids, t.ids);
        }

        @Override
        public int hashCode() {
            return java.util.Arrays.hashCode(ids);
        }

        @Override
        public String toString() {
            return "TokenPrompt[" + ids.length + " ids]";
        }
    }

    /**
     * Sampling and scheduling of one generation. Null means "not set": the node applies the base
     * model's generation config, then its own defaults.
     *
     * @param deadlineEpochMillis wall-clock time after which the node cancels the request; 0 for none
     * @param weight              the tenant tier's share in fair scheduling
     * @param constraint          what the output must be (JSON, JSON of a schema), enforced while decoding; null: free text
     */
    public record GenerationParams(
            Double temperature,
            Integer topK,
            Double topP,
            Double minP,
            Double repetitionPenalty,
            Double presencePenalty,
            Double frequencyPenalty,
            Map<Integer, Double> logitBias,
            Long seed,
            Integer maxTokens,
            List<String> stop,
            boolean ignoreEos,
            boolean logprobs,
            int topLogprobs,
            int priority,
            long deadlineEpochMillis,
            double weight,
            OutputConstraint constraint) implements RemoteMessage {

        public GenerationParams {
            logitBias = logitBias == null ? Map.of() : Map.copyOf(logitBias);
            stop = stop == null ? List.of() : List.copyOf(stop);
        }

        /** Free text (no output constraint). */
        public GenerationParams(Double temperature, Integer topK, Double topP, Double minP, Double repetitionPenalty,
                Double presencePenalty, Double frequencyPenalty, Map<Integer, Double> logitBias, Long seed, Integer maxTokens,
                List<String> stop, boolean ignoreEos, boolean logprobs, int topLogprobs, int priority, long deadlineEpochMillis,
                double weight) {
            this(temperature, topK, topP, minP, repetitionPenalty, presencePenalty, frequencyPenalty, logitBias, seed, maxTokens, stop,
                    ignoreEos, logprobs, topLogprobs, priority, deadlineEpochMillis, weight, null);
        }

        /** These parameters with {@code constraint} on the output. */
        public GenerationParams withConstraint(OutputConstraint constraint) {
            return new GenerationParams(temperature, topK, topP, minP, repetitionPenalty, presencePenalty, frequencyPenalty, logitBias,
                    seed, maxTokens, stop, ignoreEos, logprobs, topLogprobs, priority, deadlineEpochMillis, weight, constraint);
        }

        /** Everything unset: the model's defaults. */
        public static GenerationParams defaults() {
            return new GenerationParams(null, null, null, null, null, null, null, Map.of(), null, null, List.of(), false, false, 0,
                    0, 0, 1.0);
        }
    }

    /**
     * What a generation's output must be, enforced token by token while decoding (only tokens that
     * keep the text a valid prefix are sampled): any JSON object ({@code response_format: json_object}),
     * or JSON valid against a schema ({@code json_schema}, OpenAI's strict-mode subset; a tool call's
     * arguments use the same).
     *
     * @param jsonSchema the schema as JSON text for {@link Kind#JSON_SCHEMA}; null for {@link Kind#JSON_OBJECT}
     */
    public record OutputConstraint(Kind kind, String jsonSchema) implements RemoteMessage {

        public enum Kind {
            /** Any JSON object. */
            JSON_OBJECT,
            /** JSON valid against {@code jsonSchema}. */
            JSON_SCHEMA
        }

        public OutputConstraint {
            Objects.requireNonNull(kind, "kind");
            if (kind == Kind.JSON_SCHEMA && (jsonSchema == null || jsonSchema.isBlank())) {
                throw new IllegalArgumentException("a JSON_SCHEMA constraint needs its schema");
            }
        }
    }

    /**
     * Starts a generation; the node answers {@link Started} with a stream of {@link TokenEvent}s,
     * or {@link Rejected}. Cancelling the stream cancels the generation and frees its memory.
     *
     * @param adapter the adapter version to apply, or null for the base model
     */
    public record Generate(String requestId, TenantId tenant, AdapterRef adapter, Prompt prompt, GenerationParams params,
            ActorRef<GenerateReply> replyTo) implements Command {
        public Generate {
            Objects.requireNonNull(requestId, "requestId");
            Objects.requireNonNull(tenant, "tenant");
            Objects.requireNonNull(prompt, "prompt");
            Objects.requireNonNull(params, "params");
            Objects.requireNonNull(replyTo, "replyTo");
        }
    }

    public sealed interface GenerateReply extends RemoteMessage permits Started, Rejected {
    }

    /**
     * Where a node holds an adapter version. Clients see {@link #apiName()} (the
     * {@code x-loraplex-adapter-tier} header, the admin API, sessions).
     */
    public enum AdapterTier {
        /** In the engine's pool (on the GPU when there is one): a request starts at once. */
        HOT,
        /** In host memory: placed in the pool when a request needs it. */
        WARM,
        /** Neither: loaded from the node's disk or fetched from another node first. */
        COLD,
        /** Being placed in the pool now. */
        LOADING,
        /** Its last load failed (a request naming it fails). */
        FAILED;

        /** The lowercase name clients see. */
        public String apiName() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }

        /** The tier of {@code apiName} ({@code hot}, {@code warm}, ...), for the engine's own names; refuses any other. */
        public static AdapterTier ofApiName(String apiName) {
            for (AdapterTier t : values()) {
                if (t.apiName().equals(apiName)) {
                    return t;
                }
            }
            throw new IllegalArgumentException("unknown adapter tier '" + apiName + "' (hot, warm, cold, loading or failed)");
        }
    }

    /**
     * The generation is queued; its tokens come through {@code tokens}. {@code adapterTier} says where
     * the adapter was when the request arrived ({@code COLD}: loaded from disk or fetched from another
     * node), or null for the base model.
     */
    public record Started(String requestId, NodeId node, int promptTokens, AdapterTier adapterTier, SourceRef<TokenEvent> tokens)
            implements GenerateReply {
    }

    /** Why a node refuses a generation; each maps to one HTTP status at the router. */
    public enum RejectReason {
        /** A parameter is invalid (400). */
        INVALID_REQUEST,
        /** Prompt and max_tokens exceed the model's context (400). */
        CONTEXT_LENGTH_EXCEEDED,
        /**
         * The adapter is not servable here (404): its files are missing with nowhere to fetch them from,
         * or it was validated against another base model than this node's.
         */
        ADAPTER_NOT_FOUND,
        /** The adapter's files are known to be unusable: they do not load on this base (422). */
        ADAPTER_INVALID,
        /** The node's queue is full or it is draining (503). */
        OVERLOADED,
        /** A bug (500). */
        INTERNAL
    }

    public record Rejected(String requestId, RejectReason reason, String param, String message) implements GenerateReply {
    }

    /** One element of a generation's stream. */
    public sealed interface TokenEvent extends RemoteMessage permits TokenText, Finished, Failed {
    }

    /** An alternative token and its log-probability. */
    public record TopLogprob(String token, double logprob) implements RemoteMessage {
    }

    /** A token's log-probability and its best alternatives, when asked for. */
    public record TokenLogprob(String token, double logprob, List<TopLogprob> top) implements RemoteMessage {
        public TokenLogprob {
            top = List.copyOf(top);
        }
    }

    /**
     * Text the generation produced with its next token(s); {@code text} may be empty while the node
     * holds back bytes of a character or a possible stop string.
     */
    public record TokenText(String text, int tokens, List<TokenLogprob> logprobs) implements TokenEvent {
        public TokenText {
            logprobs = logprobs == null ? List.of() : List.copyOf(logprobs);
        }
    }

    /** Why a successful generation ended. Clients see {@link #apiName()} mapped to OpenAI's names by the router. */
    public enum FinishReason {
        /** The model produced its end token or a stop string. */
        STOP,
        /** {@code max_tokens} or the context's end was reached. */
        LENGTH,
        /** The node cancelled it (the engine stopped, or the reader went away). */
        CANCELLED,
        /** The request's deadline passed. */
        DEADLINE;

        /** The lowercase name. */
        public String apiName() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    /** The last element of a successful stream. */
    public record Finished(String text, FinishReason finishReason, int promptTokens, int completionTokens, int cachedTokens)
            implements TokenEvent {
        public Finished {
            Objects.requireNonNull(finishReason, "finishReason");
        }
    }

    /** Whose fault a failed generation is; the router answers each with its own status. */
    public enum FailureCode {
        /** The node or its engine failed (500). */
        INTERNAL,
        /**
         * The request's adapter version turned its logits non-finite: the node quarantined it and
         * reported it to its {@code Adapter} entity (422, naming the adapter).
         */
        ADAPTER_QUARANTINED
    }

    /** The last element of a failed stream. */
    public record Failed(String message, FailureCode code) implements TokenEvent {
        public Failed {
            Objects.requireNonNull(code, "code");
        }

        /** A failure of the node itself. */
        public Failed(String message) {
            this(message, FailureCode.INTERNAL);
        }
    }

    /** Makes an adapter hot on this node (session-start prefetch), optionally pinned. */
    public record LoadAdapter(AdapterRef adapter, boolean pin, ActorRef<Ack> replyTo) implements Command {
    }

    /** Drops an adapter from this node's hot tier, and from its host memory when {@code purge}. */
    public record EvictAdapter(ContentHash hash, boolean purge, ActorRef<Ack> replyTo) implements Command {
    }

    public record Ack(boolean ok, String message) implements RemoteMessage {
        public static Ack done() {
            return new Ack(true, "");
        }

        public static Ack failed(String message) {
            return new Ack(false, message);
        }
    }

    /**
     * Checks an adapter version against the base this node serves (shapes, ranks, finite weights,
     * supported options), without making it hot.
     */
    public record ValidateAdapter(AdapterRef adapter, ActorRef<Validation> replyTo) implements Command {
    }

    /**
     * The verdict on an adapter: valid or not (with the loader's reason), the base identity it was
     * checked against, its largest rank and its parameter count.
     */
    public record Validation(AdapterRef adapter, boolean valid, String reason, String baseIdentity, int maxRank, long parameters)
            implements RemoteMessage {
    }

    public record GetStats(ActorRef<NodeStats> replyTo) implements Command {
    }

    /** An adapter a node holds: {@code tier} {@code HOT} (engine pool) or {@code WARM} (host memory). */
    public record HeldAdapter(AdapterRef adapter, AdapterTier tier, boolean pinned, int running) implements RemoteMessage {
        public HeldAdapter {
            Objects.requireNonNull(tier, "tier");
        }
    }

    /**
     * A node's load and contents, for placement and operators. {@code ready}: it takes new requests
     * (false while draining or shutting down); {@code capacity}: how many requests it runs at once;
     * {@code hotAdapters}: the content hashes of {@code adapters} in the hot tier.
     */
    public record NodeStats(NodeId node, String baseModel, String baseIdentity, boolean ready, boolean draining, int running,
            int waiting, int capacity, int freePages, int totalPages, long generatedTokens, List<String> hotAdapters,
            List<HeldAdapter> adapters) implements RemoteMessage {
        public NodeStats {
            hotAdapters = List.copyOf(hotAdapters);
            adapters = List.copyOf(adapters);
        }
    }

    // ---- operations (issue 6): pin, drop, drain, leave

    /** Pins an adapter hot on this node (loading it first), or unpins it (it stays until evicted). */
    public record PinAdapter(AdapterRef adapter, boolean pinned, ActorRef<Ack> replyTo) implements Command {
    }

    /**
     * The adapter version is deleted: evict it from every tier of this node and delete the node's own
     * copy of its files. Acks once gone (in use: after its requests end).
     */
    public record DropAdapter(TenantId tenant, ContentHash hash, ActorRef<Ack> replyTo) implements Command {
    }

    /**
     * Starts or ends a drain: a draining node refuses new generations ({@code OVERLOADED}, so routers
     * retry elsewhere), reports {@code ready=false, draining=true}, and finishes what it runs.
     */
    public record SetDraining(boolean draining, ActorRef<Ack> replyTo) implements Command {
    }

    /**
     * Leaves the cluster gracefully once nothing runs (the JVM then stops). Refused (Ack not ok) while
     * requests run, when the node is not draining, or when its JVM also holds the router role.
     */
    public record Leave(ActorRef<Ack> replyTo) implements Command {
    }

    // ---- training (issue 8): the node reads files from the file store and stores adapters in the blob store

    /**
     * Checks a training file (JSONL: chat {@code messages} or instruction/input/output) against this
     * node's base and chat template, reading it from the file store.
     */
    public record ValidateTrainingFile(TenantId tenant, FileRef file, ActorRef<TrainingFileVerdict> replyTo) implements Command {
    }

    /** A problem of a training file, at its 1-based line (0: the file as a whole). */
    public record FileProblem(int line, String message) implements RemoteMessage {
    }

    /** The verdict on a training file: valid, or the problems by line; its example and token counts. */
    public record TrainingFileVerdict(String fileId, boolean valid, List<FileProblem> problems, int examples, long tokens)
            implements RemoteMessage {
        public TrainingFileVerdict {
            problems = List.copyOf(problems);
        }
    }

    /**
     * The trainer's settings for one job.
     *
     * @param learningRate the AdamW learning rate (the API's multiplier times 2e-4)
     * @param seed         seeds data order and LoRA initialisation
     */
    public record TrainingHyperparameters(int epochs, int batchSize, double learningRate, int rank, double alpha, long seed)
            implements RemoteMessage {
    }

    /**
     * Trains a LoRA adapter on this node's base, at lower priority than serving. The node answers
     * {@link TrainingStarted}, then {@link TrainingProgress} now and then, then one
     * {@link TrainingFinished} (the adapter stored through the blob store under its content hash) or
     * {@link TrainingFailed}. {@code attempt} is echoed in every update so the caller can ignore an
     * earlier attempt's stragglers; a node given a later attempt of a job it still holds drops the
     * earlier one. The caller counts an attempt lost when the node says nothing for its progress
     * timeout, so a node that queues jobs behind one another should start them within it.
     *
     * @param validationFile null: the node holds out a split of the training file for the evaluation
     */
    public record TrainAdapter(String jobId, int attempt, TenantId tenant, FileRef trainingFile, FileRef validationFile,
            TrainingHyperparameters hyperparameters, String adapterName, ActorRef<TrainingUpdate> replyTo) implements Command {
        public TrainAdapter {
            Objects.requireNonNull(jobId, "jobId");
            Objects.requireNonNull(tenant, "tenant");
            Objects.requireNonNull(trainingFile, "trainingFile");
            Objects.requireNonNull(hyperparameters, "hyperparameters");
            Objects.requireNonNull(replyTo, "replyTo");
        }
    }

    /** Stops a training job (any attempt); the node answers {@link TrainingFailed} with code {@code CANCELLED}. */
    public record CancelTraining(String jobId) implements Command {
    }

    /** What a node reports about a training job. */
    public sealed interface TrainingUpdate extends RemoteMessage
            permits TrainingStarted, TrainingProgress, TrainingFinished, TrainingFailed {
        String jobId();

        int attempt();
    }

    /** The node began: the data is read and encoded. */
    public record TrainingStarted(String jobId, int attempt, NodeId node, int trainExamples, int totalSteps)
            implements TrainingUpdate {
    }

    /** After an optimizer step; {@code validationLoss} null except at the end of an epoch. */
    public record TrainingProgress(String jobId, int attempt, int step, int totalSteps, int epoch, double trainLoss,
            Double validationLoss) implements TrainingUpdate {
    }

    /**
     * The adapter is trained and stored in the blob store as {@code hash} ({@code bytes} in all).
     * The losses on the validation split, of the base and of the base with the adapter, decide
     * whether it is promoted.
     */
    public record TrainingFinished(String jobId, int attempt, ContentHash hash, long bytes, long trainedTokens,
            double baseValidationLoss, double trainedValidationLoss) implements TrainingUpdate {
    }

    /**
     * Training failed: {@code code} one of the node's codes ({@code INVALID_TRAINING_FILE},
     * {@code CANCELLED}, {@code OUT_OF_MEMORY}, {@code INTERNAL}), {@code message} saying what happened.
     */
    public record TrainingFailed(String jobId, int attempt, TrainingFailureCode code, String message) implements TrainingUpdate {
        public TrainingFailed {
            Objects.requireNonNull(code, "code");
        }
    }
}
