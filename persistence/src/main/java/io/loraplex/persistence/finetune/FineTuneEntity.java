package io.loraplex.persistence.finetune;

import io.loraplex.cluster.ContentHash;
import io.loraplex.cluster.NodeId;
import io.loraplex.cluster.TenantId;
import io.loraplex.cluster.adapter.AdapterProtocol;
import io.loraplex.cluster.blob.BlobProtocol;
import io.loraplex.cluster.files.FileStoreProtocol.FileRef;
import io.loraplex.cluster.finetune.FineTuneProtocol;
import io.loraplex.cluster.finetune.FineTuneProtocol.AddFile;
import io.loraplex.cluster.finetune.FineTuneProtocol.CancelJob;
import io.loraplex.cluster.finetune.FineTuneProtocol.CreateJob;
import io.loraplex.cluster.finetune.FineTuneProtocol.DeleteFile;
import io.loraplex.cluster.finetune.FineTuneProtocol.Error;
import io.loraplex.cluster.finetune.FineTuneProtocol.TrainingFailureCode;
import io.loraplex.cluster.finetune.FineTuneProtocol.FileInfo;
import io.loraplex.cluster.finetune.FineTuneProtocol.FileList;
import io.loraplex.cluster.finetune.FineTuneProtocol.FileReply;
import io.loraplex.cluster.finetune.FineTuneProtocol.GetFile;
import io.loraplex.cluster.finetune.FineTuneProtocol.GetJob;
import io.loraplex.cluster.finetune.FineTuneProtocol.JobEvent;
import io.loraplex.cluster.finetune.FineTuneProtocol.JobEvents;
import io.loraplex.cluster.finetune.FineTuneProtocol.JobList;
import io.loraplex.cluster.finetune.FineTuneProtocol.JobReply;
import io.loraplex.cluster.finetune.FineTuneProtocol.JobStatus;
import io.loraplex.cluster.finetune.FineTuneProtocol.JobView;
import io.loraplex.cluster.finetune.FineTuneProtocol.ListFiles;
import io.loraplex.cluster.finetune.FineTuneProtocol.ListJobEvents;
import io.loraplex.cluster.finetune.FineTuneProtocol.ListJobs;
import io.loraplex.cluster.node.GpuNodeProtocol;
import io.loraplex.cluster.node.GpuNodeProtocol.TrainingFailed;
import io.loraplex.cluster.node.GpuNodeProtocol.TrainingFinished;
import io.loraplex.cluster.node.GpuNodeProtocol.TrainingProgress;
import io.loraplex.cluster.node.GpuNodeProtocol.TrainingStarted;
import io.loraplex.cluster.node.GpuNodeProtocol.TrainingUpdate;
import io.loraplex.cluster.placement.PlacementProtocol;
import io.loraplex.cluster.placement.PlacementProtocol.ChooseNode;
import io.loraplex.cluster.placement.PlacementProtocol.Chosen;
import io.loraplex.cluster.placement.PlacementProtocol.NoNode;
import io.loraplex.cluster.placement.PlacementProtocol.NoNodeReason;
import io.loraplex.cluster.placement.PlacementProtocol.NodeChoice;
import io.loraplex.cluster.placement.PlacementProtocol.Work;
import io.loraplex.persistence.Placements;
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
import io.loraplex.persistence.finetune.FineTuneState.Job;
import io.loraplex.persistence.finetune.FineTuneState.JobSpec;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.SupervisorStrategy;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.actor.typed.receptionist.ServiceKey;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.persistence.typed.PersistenceId;
import org.apache.pekko.persistence.typed.RecoveryCompleted;
import org.apache.pekko.persistence.typed.javadsl.CommandHandlerWithReply;
import org.apache.pekko.persistence.typed.javadsl.EventHandler;
import org.apache.pekko.persistence.typed.javadsl.EventSourcedBehaviorWithEnforcedReplies;
import org.apache.pekko.persistence.typed.javadsl.ReplyEffect;
import org.apache.pekko.persistence.typed.javadsl.RetentionCriteria;
import org.apache.pekko.persistence.typed.javadsl.SignalHandler;

/**
 * The sharded, event-sourced {@code FineTune} entity, one per tenant, on router nodes: the metadata
 * of the tenant's training files and its fine-tuning jobs. A job is created queued (its files were
 * validated at upload), sent to the GPU node the router's placement chooses (one serving the job's
 * {@code model}, ready, not draining), watched (node death, no progress within
 * {@code progress-timeout}), re-sent up to {@code max-attempts} times, and after recovery picked up
 * again: a job ends succeeded, failed or cancelled, never stuck.
 *
 * <p>A trained adapter is registered as a new version of the job's {@code suffix} through the
 * {@code Adapter} entity ({@code source "training"}) and promoted, unless the request said not to
 * or its validation loss is worse than the base's: then it stays registered, unpromoted, with the
 * reason in the job. A cancelled job registers nothing; an adapter its node stored anyway is
 * deleted from the blob store.
 */
public final class FineTuneEntity extends EventSourcedBehaviorWithEnforcedReplies<FineTuneEntity.Message, FineTuneEvent, FineTuneState> {

    static final String NO_SUCH_FILE = "No such File object: %s";
    static final String NO_SUCH_JOB = "No such fine-tuning job: %s";
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final String ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    /** How long finding the router's placement, and its choice of a node, may take. */
    private static final Duration CHOOSE_TIMEOUT = Duration.ofSeconds(5);

    // ---- what the entity handles: its protocol's commands and the messages it sends itself

    /**
     * Every message the entity handles, switched over without a {@code default}: a new command of
     * {@link FineTuneProtocol} that no handler takes does not compile.
     */
    sealed interface Message permits Received, Internal {
    }

    /** A command of {@link FineTuneProtocol}, wrapped as it arrives (see {@link #create}). */
    record Received(FineTuneProtocol.Command command) implements Message, NoSerializationVerificationNeeded {
    }

    /** Messages the entity sends itself: never leave this JVM. */
    private sealed interface Internal extends Message, NoSerializationVerificationNeeded
            permits ForJob, NodeLost, FromNode, BlobStoresFound {
    }

    /** A step of one job's run: it applies only while that job is active (queued, running or registering). */
    private sealed interface ForJob extends Internal
            permits Resume, Dispatch, NodeChosen, ProgressTimeout, Registered, Promoted, RetryRegistration {
        String jobId();
    }

    /** After recovery: pick a job up again. */
    private record Resume(String jobId) implements ForJob {
    }

    /** Timer: ask for a GPU node for a queued job again. */
    private record Dispatch(String jobId) implements ForJob {
    }

    /** Placement's answer for a queued job. */
    private record NodeChosen(String jobId, NodeChoice choice) implements ForJob {
    }

    private record ProgressTimeout(String jobId, int attempt) implements ForJob {
    }

    private record NodeLost(ActorRef<GpuNodeProtocol.Command> node) implements Internal {
    }

    private record FromNode(TrainingUpdate update) implements Internal {
    }

    private record Registered(String jobId, AdapterProtocol.Reply reply, Throwable failure) implements ForJob {
    }

    private record Promoted(String jobId, int version, AdapterProtocol.Reply reply, Throwable failure) implements ForJob {
    }

    private record RetryRegistration(String jobId) implements ForJob {
    }

    private record BlobStoresFound(ContentHash hash, Set<ActorRef<BlobProtocol.Command>> stores) implements Internal {
    }

    /** The node running an attempt: {@code id} as placement named it, {@code node} where it is. */
    private record Running(int attempt, NodeId id, ActorRef<GpuNodeProtocol.Command> node) {
    }

    private final ActorContext<Message> context;
    private final TimerScheduler<Message> timers;
    private final TenantId tenant;
    private final FineTuneSettings settings;
    private final Clock clock;
    private final ActorRef<TrainingUpdate> updates;
    private final Map<String, Running> running = new HashMap<>();
    private final Set<ActorRef<GpuNodeProtocol.Command>> watched = new HashSet<>();
    private final Map<String, Integer> registrationFailures = new HashMap<>();

    private FineTuneEntity(ActorContext<Message> context, TimerScheduler<Message> timers, TenantId tenant, FineTuneSettings settings,
            Clock clock) {
        super(persistenceId(tenant), SupervisorStrategy.restartWithBackoff(Duration.ofSeconds(1), Duration.ofSeconds(30), 0.2));
        this.context = context;
        this.timers = timers;
        this.tenant = tenant;
        this.settings = settings;
        this.clock = clock;
        this.updates = context.messageAdapter(TrainingUpdate.class, FromNode::new);
    }

    /** The journal's id of a tenant's entity: {@code FineTune|<tenant>}. */
    public static PersistenceId persistenceId(TenantId tenant) {
        return PersistenceId.of(FineTuneProtocol.TYPE_KEY.name(), tenant.value());
    }

    public static Behavior<FineTuneProtocol.Command> create(TenantId tenant, FineTuneSettings settings, Clock clock) {
        Behavior<Message> entity = Behaviors.setup(context -> Behaviors.withTimers(
                timers -> new FineTuneEntity(context, timers, tenant, settings, clock)));
        // commands arrive wrapped, so one sealed type holds them and the entity's own messages
        // (which, being no Command, pass the transformation untouched)
        Behavior<FineTuneProtocol.Command> received = Behaviors.transformMessages(FineTuneProtocol.Command.class, entity,
                pf -> pf.match(FineTuneProtocol.Command.class, Received::new));
        return Behaviors.supervise(received).onFailure(RuntimeException.class, SupervisorStrategy.restart());
    }

    @Override
    public FineTuneState emptyState() {
        return FineTuneState.EMPTY;
    }

    @Override
    public EventHandler<FineTuneState, FineTuneEvent> eventHandler() {
        return (state, event) -> state.apply(event, settings.maxEventsPerJob());
    }

    @Override
    public RetentionCriteria retentionCriteria() {
        return RetentionCriteria.snapshotEvery(settings.snapshotEvery(), 2);
    }

    @Override
    public SignalHandler<FineTuneState> signalHandler() {
        return newSignalHandlerBuilder().onSignal(RecoveryCompleted.instance(), state -> {
            for (Job job : state.jobs().values()) {
                if (job.active()) {
                    context.getSelf().tell(new Resume(job.id()));
                }
            }
        }).build();
    }

    @Override
    public CommandHandlerWithReply<Message, FineTuneEvent, FineTuneState> commandHandler() {
        return (state, message) -> switch (message) {
            case Received(FineTuneProtocol.Command c) -> onCommand(state, c);
            case ForJob m -> {
                Job job = state.job(m.jobId());
                // a job cancelled, failed or done meanwhile: what was under way for it ends here
                yield job == null || !job.active() ? Effect().noReply() : forActiveJob(job, m);
            }
            case FromNode m -> onUpdate(state, m.update());
            case NodeLost m -> onNodeLost(state, m.node());
            case BlobStoresFound m -> {
                ActorRef<BlobProtocol.Deleted> ignore = context.getSystem().ignoreRef();
                m.stores().forEach(store -> store.tell(new BlobProtocol.DeleteBlob(tenant, m.hash(), ignore)));
                yield Effect().noReply();
            }
        };
    }

    private ReplyEffect<FineTuneEvent, FineTuneState> onCommand(FineTuneState state, FineTuneProtocol.Command command) {
        return switch (command) {
            case AddFile c -> state.file(c.file().id()) != null ? Effect().reply(c.replyTo(), FileReply.ok(state.file(c.file().id())))
                    : Effect().persist(new FileAdded(c.file())).thenReply(c.replyTo(), s -> FileReply.ok(c.file()));
            case ListFiles c -> Effect().reply(c.replyTo(), new FileList(List.copyOf(state.files().values())));
            case GetFile c -> Effect().reply(c.replyTo(), state.file(c.fileId()) == null ? noSuchFile(c.fileId())
                    : FileReply.ok(state.file(c.fileId())));
            case DeleteFile c -> onDeleteFile(state, c);
            case CreateJob c -> onCreateJob(state, c);
            case ListJobs c -> Effect().reply(c.replyTo(), listJobs(state, c));
            case GetJob c -> Effect().reply(c.replyTo(), state.job(c.jobId()) == null ? noSuchJob(c.jobId())
                    : JobReply.ok(state.job(c.jobId()).view()));
            case ListJobEvents c -> Effect().reply(c.replyTo(), listEvents(state, c));
            case CancelJob c -> onCancel(state, c);
        };
    }

    /** A step of {@code job}'s run, which is still active. */
    private ReplyEffect<FineTuneEvent, FineTuneState> forActiveJob(Job job, ForJob message) {
        return switch (message) {
            case Resume _ -> onResume(job);
            case Dispatch _ -> onDispatch(job);
            case NodeChosen m -> onNodeChosen(job, m.choice());
            case ProgressTimeout m -> onProgressTimeout(job, m);
            case Registered m -> onRegistered(job, m);
            case Promoted m -> onPromoted(job, m);
            case RetryRegistration _ -> {
                if (job.result() != null) {
                    register(job);
                }
                yield Effect().noReply();
            }
        };
    }

    // ---- files

    private ReplyEffect<FineTuneEvent, FineTuneState> onDeleteFile(FineTuneState state, DeleteFile c) {
        FileInfo file = state.file(c.fileId());
        if (file == null) {
            return Effect().reply(c.replyTo(), noSuchFile(c.fileId()));
        }
        for (Job job : state.jobs().values()) {
            if (job.active() && job.uses(c.fileId())) {
                return Effect().reply(c.replyTo(), new FileReply(null, Error.CONFLICT,
                        "File " + c.fileId() + " is used by fine-tuning job " + job.id() + ", which has not finished"));
            }
        }
        return Effect().persist(new FileDeleted(c.fileId(), clock.millis())).thenReply(c.replyTo(), s -> FileReply.ok(file));
    }

    private static FileReply noSuchFile(String fileId) {
        return new FileReply(null, Error.NOT_FOUND, NO_SUCH_FILE.formatted(fileId));
    }

    // ---- creating, listing, cancelling jobs

    private ReplyEffect<FineTuneEvent, FineTuneState> onCreateJob(FineTuneState state, CreateJob c) {
        FineTuneProtocol.JobRequest r = c.request();
        JobSpec spec;
        try {
            spec = resolve(state, r);
        } catch (InvalidJob e) {
            return Effect().reply(c.replyTo(), new JobReply(null, Error.INVALID, e.param, e.getMessage()));
        }
        String jobId = "ftjob-" + randomId();
        long now = clock.millis();
        return Effect().persist(List.of(new JobCreated(jobId, spec, now), new JobQueued(jobId, now)))
                .thenRun(s -> dispatch(s.job(jobId)))
                .thenReply(c.replyTo(), s -> JobReply.ok(s.job(jobId).view()));
    }

    /** The request with "auto" resolved, or an {@link InvalidJob} naming the field. */
    private JobSpec resolve(FineTuneState state, FineTuneProtocol.JobRequest r) {
        if (r.model() == null || r.model().isBlank()) {
            throw new InvalidJob("model", "'model' is required: the base model to fine-tune");
        }
        requireFile(state, r.trainingFile(), "training_file");
        if (r.validationFile() != null) {
            requireFile(state, r.validationFile(), "validation_file");
        }
        String suffix = r.suffix() == null ? "ft-" + randomId().substring(0, 8).toLowerCase(Locale.ROOT) : r.suffix();
        if (!AdapterProtocol.NAME.matcher(suffix).matches()) {
            throw new InvalidJob("suffix", "'suffix' names the adapter: 1-64 letters, digits, '.', '_' and '-', starting with "
                    + "a letter or digit; got: " + suffix);
        }
        FineTuneSettings.Defaults d = settings.defaults();
        int epochs = within(r.nEpochs(), d.nEpochs(), 1, 1000, "hyperparameters.n_epochs");
        int batch = within(r.batchSize(), d.batchSize(), 1, 256, "hyperparameters.batch_size");
        int rank = within(r.rank(), d.rank(), 1, 256, "hyperparameters.rank");
        double multiplier = r.learningRateMultiplier() == null ? d.learningRateMultiplier() : r.learningRateMultiplier();
        if (!(multiplier > 0 && multiplier <= 100)) {
            throw new InvalidJob("hyperparameters.learning_rate_multiplier",
                    "'hyperparameters.learning_rate_multiplier' must be above 0 and at most 100, got " + multiplier);
        }
        double alpha = r.alpha() == null ? d.alpha() : r.alpha();
        if (!(alpha > 0 && alpha <= 4096)) {
            throw new InvalidJob("hyperparameters.alpha", "'hyperparameters.alpha' must be above 0 and at most 4096, got " + alpha);
        }
        return new JobSpec(r.model(), r.trainingFile(), r.validationFile(), suffix, epochs, batch, multiplier, rank, alpha,
                r.promote() == null || r.promote(), r.seed() == null ? d.seed() : r.seed());
    }

    private static void requireFile(FineTuneState state, String fileId, String param) {
        if (fileId == null) {
            throw new InvalidJob(param, "'" + param + "' is required");
        }
        FileInfo file = state.file(fileId);
        if (file == null) {
            throw new InvalidJob(param, "invalid " + param + ": " + fileId + " (no such file)");
        }
        if (!"processed".equals(file.status())) {
            throw new InvalidJob(param, "invalid " + param + ": " + fileId + " is not a valid training file: " + file.statusDetails());
        }
    }

    private static int within(Integer value, int auto, int min, int max, String param) {
        int v = value == null ? auto : value;
        if (v < min || v > max) {
            throw new InvalidJob(param, "'" + param + "' must be " + min + " to " + max + ", got " + v);
        }
        return v;
    }

    private static final class InvalidJob extends RuntimeException {
        final String param;

        InvalidJob(String param, String message) {
            super(message, null, false, false);
            this.param = param;
        }
    }

    private static JobList listJobs(FineTuneState state, ListJobs c) {
        List<Job> newestFirst = new ArrayList<>(state.jobs().values());
        java.util.Collections.reverse(newestFirst);
        int from = 0;
        if (c.after() != null) {
            for (int i = 0; i < newestFirst.size(); i++) {
                if (newestFirst.get(i).id().equals(c.after())) {
                    from = i + 1;
                }
            }
        }
        int to = Math.min(newestFirst.size(), from + Math.max(1, c.limit()));
        List<JobView> page = newestFirst.subList(from, to).stream().map(Job::view).toList();
        return new JobList(page, to < newestFirst.size());
    }

    private static JobEvents listEvents(FineTuneState state, ListJobEvents c) {
        Job job = state.job(c.jobId());
        if (job == null) {
            return new JobEvents(false, List.of(), false);
        }
        List<JobEvent> newestFirst = new ArrayList<>(job.events());
        java.util.Collections.reverse(newestFirst);
        int from = 0;
        if (c.after() != null) {
            for (int i = 0; i < newestFirst.size(); i++) {
                if (newestFirst.get(i).id().equals(c.after())) {
                    from = i + 1;
                }
            }
        }
        int to = Math.min(newestFirst.size(), from + Math.max(1, c.limit()));
        return new JobEvents(true, newestFirst.subList(from, to), to < newestFirst.size());
    }

    private static JobReply noSuchJob(String jobId) {
        return new JobReply(null, Error.NOT_FOUND, "fine_tuning_job_id", NO_SUCH_JOB.formatted(jobId));
    }

    private ReplyEffect<FineTuneEvent, FineTuneState> onCancel(FineTuneState state, CancelJob c) {
        Job job = state.job(c.jobId());
        if (job == null) {
            return Effect().reply(c.replyTo(), noSuchJob(c.jobId()));
        }
        if (!job.active()) {
            return Effect().reply(c.replyTo(), new JobReply(job.view(), Error.CONFLICT, null,
                    "Job " + job.id() + " has already " + job.status().apiName() + "; it cannot be cancelled"));
        }
        if (job.result() != null) {
            return Effect().reply(c.replyTo(), new JobReply(job.view(), Error.CONFLICT, null,
                    "Job " + job.id() + " has finished training and is registering its adapter; it cannot be cancelled"));
        }
        Running run = running.remove(job.id());
        return Effect().persist(new JobCancelled(job.id(), clock.millis()))
                .thenRun(s -> {
                    timers.cancel(job.id());
                    if (run != null) {
                        run.node().tell(new GpuNodeProtocol.CancelTraining(job.id()));
                    }
                })
                .thenReply(c.replyTo(), s -> JobReply.ok(s.job(job.id()).view()));
    }

    // ---- running jobs on GPU nodes

    /** After recovery: a queued job is dispatched; an attempt in flight was lost with the restart; a trained job registers. */
    private ReplyEffect<FineTuneEvent, FineTuneState> onResume(Job job) {
        if (running.containsKey(job.id())) {
            return Effect().noReply();
        }
        if (job.result() != null) {
            register(job);
            return Effect().noReply();
        }
        long now = clock.millis();
        if (job.status() == JobStatus.VALIDATING_FILES) {
            return Effect().persist(new JobQueued(job.id(), now)).thenRun(s -> dispatch(s.job(job.id()))).thenNoReply();
        }
        if (job.node() == null) {
            dispatch(job);
            return Effect().noReply();
        }
        return attemptFailed(job, "interrupted: the service running the job restarted", TrainingFailureCode.INTERRUPTED);
    }

    /**
     * Asks the router's placement (the one node-choice policy) for a ready node serving the job's
     * base model, avoiding the node of its previous attempt while another is ready; the answer
     * comes back as {@link NodeChosen}. No placement up, or none answering, counts as no node ready.
     */
    private void dispatch(Job job) {
        Set<NodeId> avoid = job.lastNode() == null ? Set.of() : Set.of(new NodeId(job.lastNode()));
        var scheduler = context.getSystem().scheduler();
        CompletionStage<NodeChoice> choice = AskPattern.<Receptionist.Command, Receptionist.Listing>ask(
                        context.getSystem().receptionist(), r -> Receptionist.find(PlacementProtocol.SERVICE_KEY, r), CHOOSE_TIMEOUT,
                        scheduler)
                .thenCompose(listing -> Placements.nearest(listing.getServiceInstances(PlacementProtocol.SERVICE_KEY), context.getSelf())
                        .map(placement -> AskPattern.<PlacementProtocol.Command, NodeChoice>ask(placement,
                                r -> new ChooseNode(Work.TRAINING, job.spec().model(), null, avoid, r), CHOOSE_TIMEOUT, scheduler))
                        .orElse(CompletableFuture.completedFuture(new NoNode(NoNodeReason.NO_READY_NODE,
                                "no router's placement is up to choose one"))));
        context.pipeToSelf(choice, (chosen, failure) -> new NodeChosen(job.id(), chosen != null ? chosen
                : new NoNode(NoNodeReason.NO_READY_NODE, "the router's placement did not answer within " + CHOOSE_TIMEOUT)));
    }

    private ReplyEffect<FineTuneEvent, FineTuneState> onDispatch(Job job) {
        if (job.node() == null && job.result() == null) {
            dispatch(job);
        }
        return Effect().noReply();
    }

    /** Sends a queued job to the node placement chose, or asks again in {@code dispatch-retry}, or fails it. */
    private ReplyEffect<FineTuneEvent, FineTuneState> onNodeChosen(Job job, NodeChoice choice) {
        if (job.status() != JobStatus.QUEUED || job.node() != null || running.containsKey(job.id())) {
            return Effect().noReply();
        }
        long now = clock.millis();
        return switch (choice) {
            case Chosen chosen -> {
                int attempt = job.attempt() + 1;
                yield Effect().persist(new JobDispatched(job.id(), attempt, chosen.node().value(), now))
                        .thenRun(s -> start(s, s.job(job.id()), attempt, chosen.node(), chosen.ref()))
                        .thenNoReply();
            }
            // a base no node reports now may be one whose nodes are all down, or not polled yet by a router
            // that just started (queued jobs are resumed then): it waits, as for a busy fleet, until queue-timeout
            case NoNode(NoNodeReason reason, String why) when reason != NoNodeReason.BASE_MODEL_REQUIRED -> {
                if (now - job.queuedAtMillis() < settings.queueTimeout().toMillis()) {
                    timers.startSingleTimer(job.id(), new Dispatch(job.id()), settings.dispatchRetry());
                    yield Effect().noReply();
                }
                yield Effect().persist(reason == NoNodeReason.UNKNOWN_BASE_MODEL
                        ? new JobFailed(job.id(), TrainingFailureCode.UNKNOWN_BASE_MODEL.apiName(), "No GPU node can train on the base "
                                + "model '" + job.spec().model() + "': " + why + " (waited " + settings.queueTimeout() + " since "
                                + "queueing); create the job again naming a base model the fleet serves", "model", now)
                        : new JobFailed(job.id(), TrainingFailureCode.NO_GPU_NODE.apiName(), "No GPU node became available within "
                                + settings.queueTimeout() + " of queueing (" + why + ")", null, now)).thenNoReply();
            }
            // the job names no base and the fleet serves several: waiting cannot help
            case NoNode(NoNodeReason reason, String why) -> Effect().persist(new JobFailed(job.id(),
                    TrainingFailureCode.UNKNOWN_BASE_MODEL.apiName(), "No GPU node can train the job: " + why
                            + "; create the job again naming a base model the fleet serves", "model", now))
                    .thenNoReply();
        };
    }

    private void start(FineTuneState state, Job job, int attempt, NodeId id, ActorRef<GpuNodeProtocol.Command> node) {
        running.put(job.id(), new Running(attempt, id, node));
        if (watched.add(node)) {
            context.watchWith(node, new NodeLost(node));
        }
        JobSpec spec = job.spec();
        FileInfo validation = spec.validationFile() == null ? null : state.file(spec.validationFile());
        node.tell(new GpuNodeProtocol.TrainAdapter(job.id(), attempt, tenant, ref(state.file(spec.trainingFile())),
                validation == null ? null : ref(validation),
                new GpuNodeProtocol.TrainingHyperparameters(spec.nEpochs(), spec.batchSize(),
                        FineTuneSettings.BASE_LEARNING_RATE * spec.learningRateMultiplier(), spec.rank(), spec.alpha(), spec.seed()),
                spec.suffix(), updates));
        timers.startSingleTimer(job.id(), new ProgressTimeout(job.id(), attempt), settings.progressTimeout());
    }

    private FileRef ref(FileInfo file) {
        return new FileRef(tenant, file.id(), file.sha256(), file.bytes());
    }

    private ReplyEffect<FineTuneEvent, FineTuneState> onUpdate(FineTuneState state, TrainingUpdate update) {
        Job job = state.job(update.jobId());
        Running run = running.get(update.jobId());
        if (job == null || run == null || run.attempt() != update.attempt()) {
            if (update instanceof TrainingFinished f && job != null && job.status() == JobStatus.CANCELLED) {
                deleteBlob(f.hash());
            }
            return Effect().noReply();
        }
        long now = clock.millis();
        return switch (update) {
            case TrainingStarted u -> {
                timers.startSingleTimer(job.id(), new ProgressTimeout(job.id(), u.attempt()), settings.progressTimeout());
                yield Effect().persist(new JobStarted(job.id(), u.attempt(), u.node().value(), u.trainExamples(), u.totalSteps(), now))
                        .thenNoReply();
            }
            case TrainingProgress u -> {
                timers.startSingleTimer(job.id(), new ProgressTimeout(job.id(), u.attempt()), settings.progressTimeout());
                boolean journal = u.step() == 1 || u.step() % settings.persistProgressEvery() == 0 || u.validationLoss() != null
                        || u.step() == u.totalSteps();
                yield journal ? Effect().persist(new JobProgressed(job.id(), u.step(), u.totalSteps(), u.epoch(), u.trainLoss(),
                        u.validationLoss(), now)).thenNoReply() : Effect().noReply();
            }
            case TrainingFinished u -> {
                timers.cancel(job.id());
                running.remove(job.id());
                yield Effect().persist(new JobTrained(job.id(), u.hash().hex(), u.bytes(), u.trainedTokens(), u.baseValidationLoss(),
                        u.trainedValidationLoss(), now)).thenRun(s -> register(s.job(job.id()))).thenNoReply();
            }
            case TrainingFailed u -> {
                timers.cancel(job.id());
                running.remove(job.id());
                yield u.code().permanent()
                        ? Effect().persist(new JobFailed(job.id(), u.code().apiName(), u.message(), null, now)).thenNoReply()
                        : attemptFailed(job, "the GPU node failed: " + u.message(), u.code());
            }
        };
    }

    private ReplyEffect<FineTuneEvent, FineTuneState> onProgressTimeout(Job job, ProgressTimeout m) {
        Running run = running.get(m.jobId());
        if (run == null || run.attempt() != m.attempt()) {
            return Effect().noReply();
        }
        running.remove(job.id());
        run.node().tell(new GpuNodeProtocol.CancelTraining(job.id()));
        return attemptFailed(job, "no progress from GPU node " + run.id() + " within " + settings.progressTimeout(),
                TrainingFailureCode.TIMEOUT);
    }

    private ReplyEffect<FineTuneEvent, FineTuneState> onNodeLost(FineTuneState state, ActorRef<GpuNodeProtocol.Command> node) {
        watched.remove(node);
        Map<Job, NodeId> lost = new LinkedHashMap<>();
        for (var e : Map.copyOf(running).entrySet()) {
            if (e.getValue().node().equals(node)) {
                running.remove(e.getKey());
                timers.cancel(e.getKey());
                lost.put(state.job(e.getKey()), e.getValue().id());
            }
        }
        if (lost.isEmpty()) {
            return Effect().noReply();
        }
        long now = clock.millis();
        List<FineTuneEvent> events = new ArrayList<>();
        List<String> retry = new ArrayList<>();
        lost.forEach((job, id) -> {
            String reason = "the GPU node " + id + " running it stopped or left the cluster";
            if (job.attempt() < settings.maxAttempts()) {
                events.add(new JobAttemptFailed(job.id(), job.attempt(), reason, now));
                retry.add(job.id());
            } else {
                events.add(giveUp(job, reason, TrainingFailureCode.NODE_LOST, now));
            }
        });
        return Effect().persist(events).thenRun(s -> retry.forEach(id -> dispatch(s.job(id)))).thenNoReply();
    }

    /** Queues the job again, or fails it when its attempts are spent. */
    private ReplyEffect<FineTuneEvent, FineTuneState> attemptFailed(Job job, String reason, TrainingFailureCode code) {
        long now = clock.millis();
        if (job.attempt() >= settings.maxAttempts()) {
            return Effect().persist(giveUp(job, reason, code, now)).thenNoReply();
        }
        return Effect().persist(new JobAttemptFailed(job.id(), job.attempt(), reason, now))
                .thenRun(s -> dispatch(s.job(job.id()))).thenNoReply();
    }

    private JobFailed giveUp(Job job, String reason, TrainingFailureCode code, long now) {
        return new JobFailed(job.id(), code.apiName(), "The job failed after " + job.attempt() + " attempt(s); the last one: "
                + reason, null, now);
    }

    // ---- registering the result through the adapter lifecycle

    private void register(Job job) {
        FineTuneState.Result result = job.result();
        ContentHash hash = ContentHash.parse(result.hash());
        String jobId = job.id();
        context.pipeToSelf(adapter(job).<AdapterProtocol.Reply>ask(replyTo -> new AdapterProtocol.RegisterVersion(tenant,
                        job.spec().suffix(), hash, result.bytes(), "training", null, job.spec().model(), replyTo), settings.adapterTimeout()),
                (reply, failure) -> new Registered(jobId, reply, failure));
    }

    private ReplyEffect<FineTuneEvent, FineTuneState> onRegistered(Job job, Registered m) {
        if (job.result() == null) {
            return Effect().noReply();
        }
        long now = clock.millis();
        Integer version = m.reply() == null ? null : versionOf(m.reply().view(), job.result().hash());
        if (m.failure() != null || (!m.reply().ok() && version == null && m.reply().error() == AdapterProtocol.Error.UNAVAILABLE)) {
            int failures = registrationFailures.merge(job.id(), 1, Integer::sum);
            String why = m.failure() != null ? m.failure().toString() : m.reply().message();
            if (failures >= settings.maxAttempts()) {
                registrationFailures.remove(job.id());
                return Effect().persist(new JobFailed(job.id(), TrainingFailureCode.ADAPTER_REGISTRATION_FAILED.apiName(),
                        "The adapter lifecycle did not register the trained adapter: " + why, null, now)).thenNoReply();
            }
            timers.startSingleTimer(job.id(), new RetryRegistration(job.id()), settings.dispatchRetry());
            return Effect().noReply();
        }
        registrationFailures.remove(job.id());
        if (version == null) {
            return Effect().persist(new JobFailed(job.id(), TrainingFailureCode.ADAPTER_REJECTED.apiName(), "The trained adapter was not registered ("
                    + m.reply().error() + "): " + m.reply().message(), null, now)).thenNoReply();
        }
        FineTuneState.Result r = job.result();
        if (!job.spec().promote()) {
            return Effect().persist(new JobSucceeded(job.id(), version, false, "the request set promote to false", now))
                    .thenNoReply();
        }
        if (r.trainedValidationLoss() > r.baseValidationLoss() || Double.isNaN(r.trainedValidationLoss())) {
            return Effect().persist(new JobSucceeded(job.id(), version, false, String.format(Locale.ROOT,
                    "the trained adapter's validation loss %.4f is worse than the base model's %.4f; version %d is registered but "
                            + "the promoted version is unchanged", r.trainedValidationLoss(), r.baseValidationLoss(), version), now))
                    .thenNoReply();
        }
        String jobId = job.id();
        context.pipeToSelf(adapter(job).<AdapterProtocol.Reply>ask(replyTo -> new AdapterProtocol.Promote(version, replyTo),
                        settings.adapterTimeout()),
                (reply, failure) -> new Promoted(jobId, version, reply, failure));
        return Effect().noReply();
    }

    private org.apache.pekko.cluster.sharding.typed.javadsl.EntityRef<AdapterProtocol.Command> adapter(Job job) {
        return ClusterSharding.get(context.getSystem())
                .entityRefFor(AdapterProtocol.TYPE_KEY, AdapterProtocol.entityId(tenant, job.spec().suffix()));
    }

    /** The version of {@code hash} in an adapter's view (a re-registration after a restart finds it there), or null. */
    private static Integer versionOf(AdapterProtocol.AdapterView view, String hash) {
        if (view == null) {
            return null;
        }
        for (AdapterProtocol.VersionView v : view.versions()) {
            if (v.hash().hex().equals(hash) && v.state() != AdapterProtocol.VersionState.REJECTED
                    && v.state() != AdapterProtocol.VersionState.DELETED) {
                return v.version();
            }
        }
        return null;
    }

    private ReplyEffect<FineTuneEvent, FineTuneState> onPromoted(Job job, Promoted m) {
        boolean ok = m.failure() == null && m.reply().ok();
        String note = ok ? null : "promoting version " + m.version() + " failed: "
                + (m.failure() != null ? m.failure().toString() : m.reply().message());
        return Effect().persist(new JobSucceeded(job.id(), m.version(), ok, note, clock.millis())).thenNoReply();
    }

    /** A cancelled job's node stored its adapter anyway: remove the blob (best effort; nothing refers to it). */
    private void deleteBlob(ContentHash hash) {
        ServiceKey<BlobProtocol.Command> key = BlobProtocol.SERVICE_KEY;
        context.ask(Receptionist.Listing.class, context.getSystem().receptionist(), Duration.ofSeconds(5),
                replyTo -> Receptionist.find(key, replyTo),
                (listing, failure) -> new BlobStoresFound(hash, listing == null ? Set.of() : listing.getServiceInstances(key)));
    }

    private static String randomId() {
        StringBuilder id = new StringBuilder(24);
        for (int i = 0; i < 24; i++) {
            id.append(ALPHABET.charAt(RANDOM.nextInt(ALPHABET.length())));
        }
        return id.toString();
    }
}
