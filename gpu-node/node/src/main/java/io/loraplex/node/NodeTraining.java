package io.loraplex.node;

import io.loraplex.cluster.ContentHash;
import io.loraplex.cluster.NodeId;
import io.loraplex.cluster.TenantId;
import io.loraplex.cluster.blob.BlobProtocol;
import io.loraplex.cluster.files.FileStoreProtocol;
import io.loraplex.cluster.files.FileStoreProtocol.FileRef;
import io.loraplex.cluster.finetune.FineTuneProtocol.TrainingFailureCode;
import io.loraplex.cluster.node.GpuNodeProtocol;
import io.loraplex.cluster.node.GpuNodeProtocol.FileProblem;
import io.loraplex.cluster.node.GpuNodeProtocol.TrainAdapter;
import io.loraplex.cluster.node.GpuNodeProtocol.TrainingFailed;
import io.loraplex.cluster.node.GpuNodeProtocol.TrainingFileVerdict;
import io.loraplex.cluster.node.GpuNodeProtocol.TrainingHyperparameters;
import io.loraplex.engine.ServedModel;
import io.loraplex.engine.backend.ComputeGate;
import io.loraplex.engine.train.Dataset;
import io.loraplex.engine.train.EncodedExample;
import io.loraplex.engine.train.ExampleEncoder;
import io.loraplex.engine.train.ProgressListener;
import io.loraplex.engine.train.TrainedAdapter;
import io.loraplex.engine.train.Trainer;
import io.loraplex.engine.train.TrainingOptions;
import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.actor.typed.receptionist.ServiceKey;
import org.apache.pekko.stream.javadsl.FileIO;
import org.apache.pekko.stream.javadsl.Keep;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.util.ByteString;

/**
 * Training on a GPU node: checks uploaded training files against this node's base (its chat
 * template, tokenizer and context), and trains adapters on a thread of its own, the jobs queued
 * meanwhile together in the next pass, yielding to serving through the engine's {@link ComputeGate}.
 * Files come from the file store and trained adapters go to the blob store, both found through the
 * receptionist, so the node needs no shared disk.
 */
final class NodeTraining implements AutoCloseable {

    /** Training files are small (chat pairs); this bounds what a node reads into memory. */
    static final long MAX_TRAINING_FILE_BYTES = 64L << 20;
    private static final Duration ASK = Duration.ofSeconds(30);

    private final ActorSystem<?> system;
    private final NodeId node;
    private final ServedModel model;
    private final ComputeGate gate;
    private final int threads;
    private final ExecutorService jobs = Executors.newSingleThreadExecutor(r -> new Thread(r, "loraplex-training"));
    private final TrainingQueue<TrainAdapter> queue = new TrainingQueue<>(jobs, this::pass);
    private final Map<String, Trainer> running = new ConcurrentHashMap<>();
    private final Map<String, Boolean> cancelled = new ConcurrentHashMap<>();
    /** The newest attempt of each job this node was given: an earlier one still queued is dropped. */
    private final Map<String, Integer> latestAttempt = new ConcurrentHashMap<>();

    NodeTraining(ActorSystem<?> system, NodeId node, ServedModel model, ComputeGate gate, int threads) {
        this.system = system;
        this.node = node;
        this.model = model;
        this.gate = gate;
        this.threads = threads;
    }

    /** Reads the file from the file store and answers whether it is training data for this base. */
    void validate(GpuNodeProtocol.ValidateTrainingFile v) {
        read(v.file()).whenComplete((text, failure) -> {
            if (failure != null) {
                v.replyTo().tell(new TrainingFileVerdict(v.file().fileId(), false, List.of(new FileProblem(0, message(failure))), 0, 0));
                return;
            }
            Checked checked = check(text);
            v.replyTo().tell(new TrainingFileVerdict(v.file().fileId(), checked.problems.isEmpty(), checked.problems,
                    checked.examples.size(), checked.tokens()));
        });
    }

    /** Queues a job; its updates go to {@code t.replyTo()}. Jobs queued while a pass runs train together in the next. */
    void train(TrainAdapter t) {
        system.log().info("node {} queues job {} (attempt {}) on base model {}", node, t.jobId(), t.attempt(), model.id());
        cancelled.remove(t.jobId());
        latestAttempt.merge(t.jobId(), t.attempt(), Math::max);
        queue.add(t);
    }

    void cancel(String jobId) {
        cancelled.put(jobId, true);
        Trainer trainer = running.get(jobId);
        if (trainer != null) {
            trainer.cancel();
        }
    }

    /** A job ready to train: its files read and checked against this base, its trainer made. */
    private record Prepared(TrainAdapter job, List<EncodedExample> train, List<EncodedExample> val, TrainingOptions options,
            Trainer trainer, int trainExamples, int totalSteps) {
    }

    /** One pass over the jobs that waited together: each is prepared (a bad one fails alone), then all train. */
    private void pass(List<TrainAdapter> batch) {
        List<Prepared> ready = new ArrayList<>();
        for (TrainAdapter t : batch) {
            try {
                Prepared p = prepare(t);
                if (p != null) {
                    ready.add(p);
                }
            } catch (Exception e) {
                fail(t, e);
                finish(t);
            }
        }
        if (ready.size() > 1) {
            system.log().info("node {} trains {} jobs of base model {} in one pass", node, ready.size(), model.id());
        }
        trainTogether(ready);
    }

    /**
     * The one training call for the jobs of a pass: one job trains alone (cancelled between layers);
     * several train as one batched job of the trainer ({@link Trainer#trainAll}: one base forward and
     * backward per step for all, each adapter with its own recipe, gradients and optimizer state),
     * each reporting on its own and cancelled alone before its next step.
     */
    private void trainTogether(List<Prepared> jobs) {
        List<Prepared> live = new ArrayList<>();
        for (Prepared p : jobs) {
            if (latestAttempt.getOrDefault(p.job().jobId(), p.job().attempt()) > p.job().attempt()) {
                running.remove(p.job().jobId(), p.trainer());
                continue; // a later attempt arrived while this one waited its turn in the pass; that one reports
            }
            live.add(p);
        }
        if (live.size() == 1) {
            Prepared p = live.getFirst();
            try {
                store(p, train(p));
            } catch (Exception e) {
                fail(p.job(), e);
            } finally {
                finish(p.job());
            }
        } else if (live.size() > 1) {
            trainBatched(live);
        }
    }

    /** Several jobs in one batched job; a job cancelled meanwhile fails alone, the others store their adapters. */
    private void trainBatched(List<Prepared> jobs) {
        List<Trainer.Job> batch = new ArrayList<>();
        for (Prepared p : jobs) {
            running.remove(p.job().jobId(), p.trainer()); // cancelled through the flag each job's step checks
            String id = p.job().jobId();
            started(p);
            batch.add(p.val() == null ? Trainer.Job.split(p.options(), p.train(), progress(p), () -> cancelled.containsKey(id))
                    : new Trainer.Job(p.options(), p.train(), p.val(), progress(p), () -> cancelled.containsKey(id)));
        }
        List<TrainedAdapter> trained;
        try {
            trained = new Trainer(model.model(), jobs.getFirst().options(), gate).trainAll(batch);
        } catch (Exception e) {
            jobs.forEach(p -> {
                fail(p.job(), e);
                finish(p.job());
            });
            return;
        }
        for (int i = 0; i < jobs.size(); i++) {
            Prepared p = jobs.get(i);
            try {
                if (trained.get(i) == null) {
                    throw new CancellationException();
                }
                store(p, trained.get(i));
            } catch (Exception e) {
                fail(p.job(), e);
            } finally {
                finish(p.job());
            }
        }
    }

    /** Reads and checks the job's files and makes its trainer; null for an attempt superseded by a later one. */
    private Prepared prepare(TrainAdapter t) throws Exception {
        if (latestAttempt.getOrDefault(t.jobId(), t.attempt()) > t.attempt()) {
            return null; // superseded by a later attempt of the same job, which reports instead
        }
        if (cancelled.remove(t.jobId()) != null) {
            throw new CancellationException();
        }
        Checked train = checkOrFail(t, t.trainingFile(), "training");
        List<EncodedExample> val = t.validationFile() == null ? null : checkOrFail(t, t.validationFile(), "validation").examples;
        TrainingOptions options = options(t.hyperparameters());
        Trainer trainer = new Trainer(model.model(), options, gate);
        running.put(t.jobId(), trainer);
        if (cancelled.containsKey(t.jobId())) {
            trainer.cancel();
        }
        int trainExamples = val == null ? train.examples.size() - heldOut(train.examples.size(), options) : train.examples.size();
        int totalSteps = options.epochs() * Math.ceilDiv(trainExamples, options.examplesPerStep());
        return new Prepared(t, train.examples, val, options, trainer, trainExamples, totalSteps);
    }

    /** Trains one prepared job alone. */
    private TrainedAdapter train(Prepared p) throws Exception {
        TrainAdapter t = p.job();
        if (cancelled.containsKey(t.jobId())) {
            throw new CancellationException();
        }
        started(p);
        return p.val() == null ? p.trainer().train(p.train(), progress(p)) : p.trainer().train(p.train(), p.val(), progress(p));
    }

    /** Tells the job's entity (and the log: which node trains what) that its training starts now. */
    private void started(Prepared p) {
        TrainAdapter t = p.job();
        system.log().info("node {} trains job {} (attempt {}) on base model {}", node, t.jobId(), t.attempt(), model.id());
        t.replyTo().tell(new GpuNodeProtocol.TrainingStarted(t.jobId(), t.attempt(), node, p.trainExamples(), p.totalSteps()));
    }

    /** Reports a job's steps and epochs to its entity. */
    private static ProgressListener progress(Prepared p) {
        TrainAdapter t = p.job();
        ActorRef<GpuNodeProtocol.TrainingUpdate> to = t.replyTo();
        return new ProgressListener() {
            @Override
            public void onStep(Step s) {
                to.tell(new GpuNodeProtocol.TrainingProgress(t.jobId(), t.attempt(), s.step(), s.steps(), s.epoch(), s.loss(), null));
            }

            @Override
            public void onEpoch(Epoch e) {
                int step = e.epoch() * Math.ceilDiv(p.trainExamples(), p.options().examplesPerStep());
                to.tell(new GpuNodeProtocol.TrainingProgress(t.jobId(), t.attempt(), Math.min(step, p.totalSteps()), p.totalSteps(),
                        e.epoch(), e.trainLoss(), Double.isNaN(e.valLoss()) ? null : e.valLoss()));
            }
        };
    }

    /** Stores a trained adapter in the blob store and reports it. */
    private void store(Prepared p, TrainedAdapter trained) throws Exception {
        TrainAdapter t = p.job();
        ActorRef<GpuNodeProtocol.TrainingUpdate> to = t.replyTo();
        Path work = Files.createTempDirectory("loraplex-trained-");
        try {
            Path out = work.resolve("adapter");
            trained.write(out, t.trainingFile().sha256());
            if (cancelled.remove(t.jobId()) != null) {
                throw new CancellationException();
            }
            BlobProtocol.Stored stored = store(t.tenant(), out).toCompletableFuture().get(5, TimeUnit.MINUTES);
            if (!stored.ok()) {
                throw new IOException("the blob store refused the trained adapter: " + stored.error());
            }
            to.tell(new GpuNodeProtocol.TrainingFinished(t.jobId(), t.attempt(), stored.hash(), stored.bytes(),
                    trained.stats().tokens(), trained.stats().baseValLoss(), trained.stats().finalValLoss()));
        } finally {
            deleteTree(work);
        }
    }

    /** Reports a job's failure, by kind. */
    private void fail(TrainAdapter t, Exception failure) {
        ActorRef<GpuNodeProtocol.TrainingUpdate> to = t.replyTo();
        switch (failure) {
            case CancellationException e ->
                    to.tell(new TrainingFailed(t.jobId(), t.attempt(), TrainingFailureCode.CANCELLED, "the job was cancelled"));
            case InvalidFile e ->
                    to.tell(new TrainingFailed(t.jobId(), t.attempt(), TrainingFailureCode.INVALID_TRAINING_FILE, e.getMessage()));
            case InterruptedException e -> {
                Thread.currentThread().interrupt();
                to.tell(new TrainingFailed(t.jobId(), t.attempt(), TrainingFailureCode.INTERNAL, "the node stopped while training"));
            }
            default -> {
                system.log().warn("training job {} failed", t.jobId(), failure);
                to.tell(new TrainingFailed(t.jobId(), t.attempt(), TrainingFailureCode.INTERNAL, message(failure)));
            }
        }
    }

    /** Forgets a job that ended (trained, failed or cancelled). */
    private void finish(TrainAdapter t) {
        running.remove(t.jobId());
        cancelled.remove(t.jobId());
        latestAttempt.remove(t.jobId(), t.attempt());
    }

    private static int heldOut(int examples, TrainingOptions options) {
        return Math.min(examples - 1, (int) Math.round(examples * options.valSplit()));
    }

    /** The seed recipe, with what the job sets. */
    private TrainingOptions options(TrainingHyperparameters h) {
        TrainingOptions d = TrainingOptions.defaults(h.seed());
        return new TrainingOptions(h.rank() > 0 ? h.rank() : d.rank(), h.alpha() > 0 ? h.alpha() : d.alpha(), d.dropout(),
                d.targets(), false, h.epochs() > 0 ? h.epochs() : d.epochs(), h.batchSize() > 0 ? h.batchSize() : d.batchSize(),
                d.gradAccum(), h.learningRate() > 0 ? h.learningRate() : d.learningRate(), d.weightDecay(), d.warmupRatio(),
                d.maxGradNorm(), false, d.valSplit(), false, h.seed(), threads);
    }

    private static final class InvalidFile extends Exception {
        InvalidFile(String message) {
            super(message);
        }
    }

    private Checked checkOrFail(TrainAdapter t, FileRef file, String what) throws Exception {
        String text;
        try {
            text = read(file).toCompletableFuture().get(2, TimeUnit.MINUTES);
        } catch (java.util.concurrent.ExecutionException e) {
            throw new InvalidFile("the " + what + " file " + file.fileId() + " cannot be read: " + message(e));
        }
        Checked checked = check(text);
        if (!checked.problems.isEmpty()) {
            FileProblem p = checked.problems.getFirst();
            throw new InvalidFile("the " + what + " file " + file.fileId() + " is not valid: "
                    + (p.line() > 0 ? "line " + p.line() + ": " : "") + p.message());
        }
        return checked;
    }

    /** A file's examples, encoded with this base's chat template and tokenizer, and its problems by line. */
    private record Checked(List<EncodedExample> examples, List<FileProblem> problems) {
        long tokens() {
            long n = 0;
            for (EncodedExample e : examples) {
                n += e.tokens().length;
            }
            return n;
        }
    }

    private Checked check(String text) {
        if (model.chatTemplate().isEmpty()) {
            return new Checked(List.of(), List.of(new FileProblem(0, "base model " + model.id()
                    + " has no chat template; training renders examples with it")));
        }
        Dataset.Parsed parsed = Dataset.parse(text);
        Dataset.Encoded encoded = Dataset.encode(parsed.examples(),
                new ExampleEncoder(model.chatTemplate().get(), model.tokenizer()), model.model().config().maxPositionEmbeddings());
        List<FileProblem> problems = new ArrayList<>();
        for (Dataset.Problem p : parsed.problems()) {
            problems.add(new FileProblem(p.line(), p.message()));
        }
        for (Dataset.Problem p : encoded.problems()) {
            problems.add(new FileProblem(p.line(), p.message()));
        }
        problems.sort(Comparator.comparingInt(FileProblem::line));
        return new Checked(encoded.examples(), problems);
    }

    /** The file's text, checked by the file store against its hash, at most {@link #MAX_TRAINING_FILE_BYTES}. */
    private CompletionStage<String> read(FileRef file) {
        if (file.bytes() > MAX_TRAINING_FILE_BYTES) {
            return CompletableFuture.failedFuture(new IOException("the file is " + file.bytes() + " bytes; training files are at most "
                    + MAX_TRAINING_FILE_BYTES));
        }
        return find(FileStoreProtocol.SERVICE_KEY, "file store")
                .thenCompose(store -> AskPattern.<FileStoreProtocol.Command, FileStoreProtocol.FileSource>ask(store,
                        r -> new FileStoreProtocol.ReadFile(file, r), ASK, system.scheduler()))
                .thenCompose(source -> {
                    if (source.source() == null) {
                        return CompletableFuture.failedFuture(new IOException(source.error()));
                    }
                    return source.source().getSource().limitWeighted(MAX_TRAINING_FILE_BYTES, b -> (long) b.size())
                            .runWith(Sink.<ByteString, ByteString>fold(ByteString.emptyByteString(), ByteString::concat), system);
                })
                .thenCompose(bytes -> {
                    try {
                        return CompletableFuture.completedFuture(StandardCharsets.UTF_8.newDecoder()
                                .decode(bytes.asByteBuffer()).toString());
                    } catch (CharacterCodingException e) {
                        return CompletableFuture.failedFuture(new IOException("the file is not UTF-8 text"));
                    }
                });
    }

    /** Streams the adapter directory into the blob store, as an upload would. */
    private CompletionStage<BlobProtocol.Stored> store(TenantId tenant, Path dir) {
        return find(BlobProtocol.SERVICE_KEY, "blob store").thenCompose(blobs -> {
            long limit;
            try {
                limit = Files.size(dir.resolve(ContentHash.CONFIG_FILE)) + Files.size(dir.resolve(ContentHash.WEIGHTS_FILE));
            } catch (IOException e) {
                return CompletableFuture.failedFuture(e);
            }
            return AskPattern.<BlobProtocol.Command, BlobProtocol.UploadOpened>ask(blobs,
                            r -> new BlobProtocol.BeginUpload(tenant, limit, r), ASK, system.scheduler())
                    .thenCompose(opened -> put(blobs, opened.uploadId(), dir, ContentHash.CONFIG_FILE)
                            .thenCompose(x -> put(blobs, opened.uploadId(), dir, ContentHash.WEIGHTS_FILE))
                            .thenCompose(x -> AskPattern.<BlobProtocol.Command, BlobProtocol.Stored>ask(blobs,
                                    r -> new BlobProtocol.Finish(opened.uploadId(), r), ASK, system.scheduler()))
                            .whenComplete((stored, failure) -> {
                                if (failure != null) {
                                    blobs.tell(new BlobProtocol.Abort(opened.uploadId()));
                                }
                            }));
        });
    }

    private CompletionStage<?> put(ActorRef<BlobProtocol.Command> blobs, String uploadId, Path dir, String fileName) {
        return AskPattern.<BlobProtocol.Command, BlobProtocol.FileSink>ask(blobs,
                        r -> new BlobProtocol.PutFile(uploadId, fileName, r), ASK, system.scheduler())
                .thenCompose(sink -> sink.sink() == null
                        ? CompletableFuture.failedFuture(new IOException(sink.error()))
                        : FileIO.fromPath(dir.resolve(fileName)).toMat(sink.sink().getSink(), Keep.left()).run(system));
    }

    private <T> CompletionStage<ActorRef<T>> find(ServiceKey<T> key, String what) {
        return AskPattern.<Receptionist.Command, Receptionist.Listing>ask(system.receptionist(),
                        r -> Receptionist.find(key, r), ASK, system.scheduler())
                .thenCompose(listing -> {
                    var instances = listing.getServiceInstances(key);
                    if (instances.isEmpty()) {
                        return CompletableFuture.failedFuture(new IOException("no " + what + " in the cluster"));
                    }
                    return CompletableFuture.completedFuture(instances.iterator().next());
                });
    }

    private static String message(Throwable t) {
        while ((t instanceof java.util.concurrent.CompletionException || t instanceof java.util.concurrent.ExecutionException)
                && t.getCause() != null) {
            t = t.getCause();
        }
        return t.getMessage() == null ? t.toString() : t.getMessage();
    }

    private static void deleteTree(Path dir) {
        try (var paths = Files.walk(dir)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException ignored) {
            // a temp directory: the OS cleans it eventually
        }
    }

    @Override
    public void close() {
        running.values().forEach(Trainer::cancel);
        jobs.shutdownNow();
    }
}
