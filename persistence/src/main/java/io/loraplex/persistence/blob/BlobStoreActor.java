package io.loraplex.persistence.blob;

import io.loraplex.cluster.ContentHash;
import io.loraplex.cluster.TenantId;
import io.loraplex.cluster.blob.BlobProtocol;
import io.loraplex.cluster.blob.BlobProtocol.Abort;
import io.loraplex.cluster.blob.BlobProtocol.BeginUpload;
import io.loraplex.cluster.blob.BlobProtocol.BlobRead;
import io.loraplex.cluster.blob.BlobProtocol.DeleteBlob;
import io.loraplex.cluster.blob.BlobProtocol.FileSink;
import io.loraplex.cluster.blob.BlobProtocol.Finish;
import io.loraplex.cluster.blob.BlobProtocol.PutArchive;
import io.loraplex.cluster.blob.BlobProtocol.PutFile;
import io.loraplex.cluster.blob.BlobProtocol.ReadBlob;
import io.loraplex.cluster.blob.BlobProtocol.Stored;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.SupervisorStrategy;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.japi.Pair;
import org.apache.pekko.stream.IOResult;
import org.apache.pekko.stream.KillSwitches;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.SharedKillSwitch;
import org.apache.pekko.stream.SinkRef;
import org.apache.pekko.stream.SourceRef;
import org.apache.pekko.stream.javadsl.FileIO;
import org.apache.pekko.stream.javadsl.Flow;
import org.apache.pekko.stream.javadsl.Keep;
import org.apache.pekko.stream.javadsl.StreamRefs;
import org.apache.pekko.util.ByteString;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The blob store's actor ({@link BlobProtocol}), registered with the receptionist under
 * {@link BlobProtocol#SOURCE_KEY} (other nodes read blobs from it) and, when it accepts uploads,
 * under {@link BlobProtocol#SERVICE_KEY}. A GPU node's store over its own adapter root is read-only:
 * it serves {@code ReadBlob} and {@code DeleteBlob}, and refuses uploads. Each upload gets a temporary directory; each file (or archive)
 * streams into it through a {@code SinkRef}, counted against the upload's byte limit as it flows.
 * {@code Finish} waits for the streams, then unpacks, checks, hashes and commits on the blocking
 * dispatcher, so one large upload never holds up the others. Every way an upload ends (finished,
 * refused, aborted, timed out) removes its temporary files. At start, leftovers of a previous run
 * in the temporary directory are removed.
 */
public final class BlobStoreActor {

    private static final Logger log = LoggerFactory.getLogger(BlobStoreActor.class);

    /** The single file name an archive is kept under while it streams in. */
    private static final String ARCHIVE = "upload.tar";

    private final ActorContext<Object> ctx;
    private final TimerScheduler<Object> timers;
    private final BlobStore store;
    private final BlobStoreSettings settings;
    private final Materializer materializer;
    private final Executor blocking;
    private final boolean acceptsUploads;
    private final UploadQuota quota;
    private final Map<String, Upload> uploads = new HashMap<>();

    /** One upload in progress. */
    private static final class Upload {
        final String id;
        final TenantId tenant;
        final long maxBytes;
        final Path dir;
        final AtomicLong received = new AtomicLong();
        final SharedKillSwitch streams;
        /** The tenant's quota held for this upload, grown before bytes are written. */
        final UploadHold hold;
        /** file name (or {@link #ARCHIVE}) → its stream's end */
        final Map<String, CompletionStage<IOResult>> parts = new LinkedHashMap<>();
        Boolean gzipArchive; // null: no archive
        boolean finishing;

        Upload(String id, TenantId tenant, long maxBytes, Path dir, UploadHold hold) {
            this.id = id;
            this.tenant = tenant;
            this.maxBytes = maxBytes;
            this.dir = dir;
            this.hold = hold;
            this.streams = KillSwitches.shared("upload-" + id);
        }
    }

    /** A finished upload's outcome, back on the actor. */
    private record Completed(String uploadId, Stored stored, ActorRef<Stored> replyTo) implements NoSerializationVerificationNeeded {
    }

    private record Expired(String uploadId) implements NoSerializationVerificationNeeded {
    }

    /** Why a stream into an upload was cut: the refusal the sender gets. */
    private static final class StreamCut extends RuntimeException {
        final BlobException refusal;

        StreamCut(String message) {
            this(new BlobException(message));
        }

        StreamCut(BlobException refusal) {
            super(refusal.getMessage(), null, false, false);
            this.refusal = refusal;
        }
    }

    private BlobStoreActor(ActorContext<Object> ctx, TimerScheduler<Object> timers, BlobStore store, BlobStoreSettings settings,
            boolean acceptsUploads, UploadQuota quota) {
        this.ctx = ctx;
        this.quota = quota;
        this.acceptsUploads = acceptsUploads;
        this.timers = timers;
        this.store = store;
        this.settings = settings;
        this.materializer = Materializer.createMaterializer(ctx);
        this.blocking = ctx.getSystem().dispatchers().lookup(DispatcherSelector.blocking());
    }

    /** A store that accepts uploads with no storage quota (tests of the store alone). */
    public static Behavior<BlobProtocol.Command> create(BlobStore store, BlobStoreSettings settings) {
        return create(store, settings, true);
    }

    /** A store that accepts uploads (a router's), charging their bytes to {@code quota} before writing them. */
    public static Behavior<BlobProtocol.Command> create(BlobStore store, BlobStoreSettings settings, UploadQuota quota) {
        return create(store, settings, true, quota);
    }

    /**
     * @param acceptsUploads false for a GPU node's read-only store over its adapter root: registered
     *                       only under {@link BlobProtocol#SOURCE_KEY}, uploads refused
     */
    public static Behavior<BlobProtocol.Command> create(BlobStore store, BlobStoreSettings settings, boolean acceptsUploads) {
        return create(store, settings, acceptsUploads, UploadQuota.NONE);
    }

    private static Behavior<BlobProtocol.Command> create(BlobStore store, BlobStoreSettings settings, boolean acceptsUploads,
            UploadQuota quota) {
        return Behaviors.<Object>setup(ctx -> Behaviors.withTimers(timers -> {
            int leftovers = store.sweepTemporary();
            if (leftovers > 0) {
                log.info("blob store at {}: removed {} leftovers of interrupted uploads", store.root(), leftovers);
            }
            ctx.getSystem().receptionist().tell(Receptionist.register(BlobProtocol.SOURCE_KEY, ctx.getSelf().narrow()));
            if (acceptsUploads) {
                ctx.getSystem().receptionist().tell(Receptionist.register(BlobProtocol.SERVICE_KEY, ctx.getSelf().narrow()));
            }
            // a failing message (a disk error creating an upload's directory) is logged and the actor goes on with its uploads
            return Behaviors.supervise(new BlobStoreActor(ctx, timers, store, settings, acceptsUploads, quota).behavior())
                    .onFailure(SupervisorStrategy.resume());
        })).narrow();
    }

    private Behavior<Object> behavior() {
        return Behaviors.receive(Object.class)
                .onMessage(BeginUpload.class, this::begin)
                .onMessage(PutFile.class, put -> {
                    put.replyTo().tell(putFile(put));
                    return Behaviors.same();
                })
                .onMessage(PutArchive.class, put -> {
                    put.replyTo().tell(putArchive(put));
                    return Behaviors.same();
                })
                .onMessage(Finish.class, this::finish)
                .onMessage(Completed.class, this::completed)
                .onMessage(Abort.class, abort -> abort(abort.uploadId(), "aborted"))
                .onMessage(Expired.class, expired -> abort(expired.uploadId(), "not finished within " + settings.uploadTimeout()))
                .onMessage(DeleteBlob.class, this::delete)
                .onMessage(ReadBlob.class, this::read)
                .build();
    }

    private Behavior<Object> begin(BeginUpload begin) throws IOException {
        if (!acceptsUploads) {
            log.error("BeginUpload for {} refused: the blob store at {} is read-only (a GPU node's copies)", begin.tenant(), store.root());
            return Behaviors.same();
        }
        if (begin.maxBytes() < 1) {
            log.error("BeginUpload for {} with a limit of {} bytes refused: the limit must be positive", begin.tenant(), begin.maxBytes());
            return Behaviors.same();
        }
        String id = UUID.randomUUID().toString();
        Upload upload = new Upload(id, begin.tenant(), begin.maxBytes(), store.newUploadDirectory(id),
                new UploadHold(quota, begin.tenant(), id, settings.quotaChunk()));
        uploads.put(id, upload);
        timers.startSingleTimer(id, new Expired(id), settings.uploadTimeout());
        begin.replyTo().tell(new BlobProtocol.UploadOpened(id));
        return Behaviors.same();
    }

    private FileSink putFile(PutFile put) {
        Upload upload = uploads.get(put.uploadId());
        String refusal = upload == null ? unknown(put.uploadId())
                : upload.finishing ? "the upload is finishing; no more files"
                : upload.gzipArchive != null ? "the upload holds an archive; it takes no separate files"
                : AdapterFiles.refusal(put.fileName());
        if (refusal == null && upload.parts.containsKey(put.fileName())) {
            refusal = "the upload already has " + put.fileName();
        }
        if (refusal != null) {
            return new FileSink(put.uploadId(), null, refusal);
        }
        return new FileSink(upload.id, sink(upload, put.fileName()), null);
    }

    private FileSink putArchive(PutArchive put) {
        Upload upload = uploads.get(put.uploadId());
        String refusal = upload == null ? unknown(put.uploadId())
                : upload.finishing ? "the upload is finishing; no more files"
                : !upload.parts.isEmpty() ? "the upload has files already; an archive must come alone"
                : null;
        if (refusal != null) {
            return new FileSink(put.uploadId(), null, refusal);
        }
        upload.gzipArchive = put.gzip();
        return new FileSink(upload.id, sink(upload, ARCHIVE), null);
    }

    /** A sink writing to the upload's file {@code name}, cut when the upload's bytes pass its limit or it is aborted. */
    private SinkRef<ByteString> sink(Upload upload, String name) {
        // each buffer is charged to the tenant's quota before it is written
        Flow<ByteString, ByteString, ?> limit = Flow.of(ByteString.class).mapAsync(1, bytes -> {
            long total = upload.received.addAndGet(bytes.size());
            if (total > upload.maxBytes) {
                throw new StreamCut(BlobException.overLimit(upload.maxBytes));
            }
            return charge(upload, total).thenApply(refusal -> {
                if (refusal != null) {
                    throw new StreamCut(BlobException.overQuota(refusal));
                }
                return bytes;
            });
        });
        Pair<SinkRef<ByteString>, CompletionStage<IOResult>> run = StreamRefs.<ByteString>sinkRef()
                .via(upload.streams.flow())
                .via(limit)
                .toMat(FileIO.toPath(upload.dir.resolve(name)), Keep.both())
                .run(materializer);
        upload.parts.put(name, run.second());
        return run.first();
    }

    private Behavior<Object> finish(Finish finish) {
        Upload upload = uploads.get(finish.uploadId());
        if (upload == null || upload.finishing) {
            finish.replyTo().tell(new Stored(finish.uploadId(), null, 0,
                    upload == null ? unknown(finish.uploadId()) : "the upload is finishing already"));
            return Behaviors.same();
        }
        upload.finishing = true;
        timers.cancel(upload.id);
        CompletableFuture<?>[] streams = upload.parts.values().stream().map(CompletionStage::toCompletableFuture)
                .toArray(CompletableFuture[]::new);
        CompletionStage<Stored> stored = CompletableFuture.allOf(streams)
                .handleAsync((done, failure) -> store(upload), blocking);
        ctx.pipeToSelf(stored, (result, failure) -> {
            if (failure != null) {
                log.error("upload {} of tenant {} could not be stored", upload.id, upload.tenant, failure);
                upload.hold.release();
            }
            return new Completed(upload.id, failure != null ? new Stored(upload.id, null, 0, COULD_NOT_STORE) : result,
                    finish.replyTo());
        });
        return Behaviors.same();
    }

    /**
     * On the blocking dispatcher, once every stream has ended: the upload's blob, or why not; no
     * temporary file remains. A stored blob's bytes stay held against the quota (its registration
     * converts the hold); any refusal releases the hold.
     */
    private Stored store(Upload upload) {
        boolean stored = false;
        try {
            BlobException streamError = streamError(upload);
            if (streamError != null) {
                throw streamError;
            }
            if (upload.gzipArchive != null) {
                Path archive = upload.dir.resolve(ARCHIVE);
                long archiveBytes = Files.size(archive);
                // the unpacked content is charged as it is written, on top of the archive still on disk
                AdapterArchive.extract(archive, upload.gzipArchive, upload.dir, upload.maxBytes,
                        extracted -> chargeBlocking(upload, archiveBytes + extracted));
                Files.delete(archive);
            }
            BlobStore.Committed committed = store.commit(upload.tenant, upload.dir);
            stored = true;
            return new Stored(upload.id, committed.hash(), committed.bytes(), null);
        } catch (BlobException e) {
            return new Stored(upload.id, null, 0, e.getMessage(), e.overQuota(), e.overLimit());
        } catch (IOException | RuntimeException e) {
            log.error("upload {} of tenant {} could not be stored", upload.id, upload.tenant, e);
            return new Stored(upload.id, null, 0, COULD_NOT_STORE);
        } finally {
            removeQuietly(upload.dir);
            if (!stored) {
                // only once its bytes are off the disk: released earlier, another upload could write them again meanwhile
                upload.hold.release();
            }
        }
    }

    /** Completes with null once the tenant's quota holds at least {@code total} bytes for the upload, or with the refusal. */
    private static CompletionStage<String> charge(Upload upload, long total) {
        return upload.hold.charge(total);
    }

    /** {@link #charge} from the blocking dispatcher (archive extraction): waits for the tenant's answer. */
    private void chargeBlocking(Upload upload, long total) throws BlobException {
        String refusal;
        try {
            refusal = charge(upload, total).toCompletableFuture().get(settings.quotaTimeout().toMillis() * 2, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            refusal = "the upload was interrupted";
        } catch (ExecutionException | TimeoutException e) {
            refusal = "the storage quota of tenant " + upload.tenant + " could not be checked; retry the upload";
        }
        if (refusal != null) {
            throw BlobException.overQuota(refusal);
        }
    }

    /** The first stream that failed, as the sender should read it (no server path); null when all completed. */
    private static BlobException streamError(Upload upload) {
        for (Map.Entry<String, CompletionStage<IOResult>> part : upload.parts.entrySet()) {
            CompletableFuture<IOResult> f = part.getValue().toCompletableFuture();
            if (f.isCompletedExceptionally()) {
                Throwable cause = f.handle((r, t) -> t).join();
                for (Throwable t = cause; t != null; t = t.getCause()) {
                    if (t instanceof StreamCut cut) {
                        return cut.refusal;
                    }
                }
                String name = part.getKey().equals(ARCHIVE) ? "the archive" : part.getKey();
                log.warn("upload {} of tenant {}: the stream of {} failed", upload.id, upload.tenant, name, cause);
                return new BlobException("the upload of " + name + " did not complete; send it again");
            }
        }
        return null;
    }

    private Behavior<Object> completed(Completed completed) {
        uploads.remove(completed.uploadId());
        completed.replyTo().tell(completed.stored());
        return Behaviors.same();
    }

    private Behavior<Object> abort(String uploadId, String why) {
        Upload upload = uploads.get(uploadId);
        if (upload == null || upload.finishing) {
            return Behaviors.same(); // unknown, or Finish owns its files now
        }
        uploads.remove(uploadId);
        timers.cancel(uploadId);
        upload.streams.abort(new StreamCut("upload " + why));
        // the streams stop writing first; then their files go, and only then their bytes' hold
        CompletableFuture.allOf(upload.parts.values().stream().map(CompletionStage::toCompletableFuture)
                        .toArray(CompletableFuture[]::new))
                .handleAsync((done, failure) -> {
                    removeQuietly(upload.dir);
                    upload.hold.release();
                    return null;
                }, blocking);
        log.debug("upload {} of tenant {} {}", uploadId, upload.tenant, why);
        return Behaviors.same();
    }

    private Behavior<Object> delete(DeleteBlob delete) {
        CompletableFuture.runAsync(() -> {
            try {
                delete.replyTo().tell(new BlobProtocol.Deleted(delete.hash(), store.delete(delete.tenant(), delete.hash())));
            } catch (IOException e) {
                log.error("could not delete blob {}/{}", delete.tenant(), delete.hash(), e);
            }
        }, blocking);
        return Behaviors.same();
    }

    /**
     * Streams a stored blob's two files, chunked, from the blocking dispatcher. The reader hashes what
     * arrives, so the files are not hashed here first (that would read them twice).
     */
    private Behavior<Object> read(ReadBlob read) {
        CompletableFuture.runAsync(() -> read.replyTo().tell(blobRead(read)), blocking);
        return Behaviors.same();
    }

    private BlobRead blobRead(ReadBlob read) {
        Path dir = store.directory(read.tenant(), read.hash());
        Path config = dir.resolve(ContentHash.CONFIG_FILE);
        Path weights = dir.resolve(ContentHash.WEIGHTS_FILE);
        try {
            long configBytes = Files.size(config);
            long weightsBytes = Files.size(weights);
            SourceRef<ByteString> configRef = FileIO.fromPath(config).runWith(StreamRefs.sourceRef(), materializer);
            SourceRef<ByteString> weightsRef = FileIO.fromPath(weights).runWith(StreamRefs.sourceRef(), materializer);
            return new BlobRead(read.hash(), configRef, configBytes, weightsRef, weightsBytes, null);
        } catch (NoSuchFileException e) {
            return new BlobRead(read.hash(), null, 0, null, 0, "blob " + read.tenant() + "/" + read.hash() + " is not in this store");
        } catch (IOException | RuntimeException e) {
            log.error("could not read blob {}/{}", read.tenant(), read.hash(), e);
            return new BlobRead(read.hash(), null, 0, null, 0, "blob " + read.tenant() + "/" + read.hash() + " could not be read: " + e);
        }
    }

    /** Said to the client for every failure of the store's own (the detail is logged, never sent: it names server paths). */
    private static final String COULD_NOT_STORE = "the blob store could not store the upload; send it again";

    private static String unknown(String uploadId) {
        log.debug("no upload {}", uploadId);
        return "the upload is finished, aborted or timed out";
    }

    private static void removeQuietly(Path dir) {
        try {
            BlobStore.deleteRecursively(dir);
        } catch (IOException e) {
            log.warn("could not remove the temporary files at {}; the next start removes them", dir, e);
        }
    }
}
