package io.loraplex.persistence.files;

import io.loraplex.cluster.TenantId;
import io.loraplex.cluster.files.FileStoreProtocol;
import io.loraplex.cluster.files.FileStoreProtocol.Abort;
import io.loraplex.cluster.files.FileStoreProtocol.Command;
import io.loraplex.cluster.files.FileStoreProtocol.DeleteFile;
import io.loraplex.cluster.files.FileStoreProtocol.Deleted;
import io.loraplex.cluster.files.FileStoreProtocol.FileSource;
import io.loraplex.cluster.files.FileStoreProtocol.Finish;
import io.loraplex.cluster.files.FileStoreProtocol.OpenUpload;
import io.loraplex.cluster.files.FileStoreProtocol.ReadFile;
import io.loraplex.cluster.files.FileStoreProtocol.Stored;
import io.loraplex.cluster.files.FileStoreProtocol.UploadSink;
import io.loraplex.persistence.blob.UploadHold;
import io.loraplex.persistence.blob.UploadQuota;
import java.io.IOException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.japi.Pair;
import org.apache.pekko.stream.IOResult;
import org.apache.pekko.stream.KillSwitches;
import org.apache.pekko.stream.SinkRef;
import org.apache.pekko.stream.SourceRef;
import org.apache.pekko.stream.StreamLimitReachedException;
import org.apache.pekko.stream.UniqueKillSwitch;
import org.apache.pekko.stream.javadsl.FileIO;
import org.apache.pekko.stream.javadsl.Flow;
import org.apache.pekko.stream.javadsl.Keep;
import org.apache.pekko.stream.javadsl.StreamRefs;
import org.apache.pekko.util.ByteString;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The training file store as an actor, registered with the receptionist under
 * {@link FileStoreProtocol#SERVICE_KEY}. Uploads stream through a {@code SinkRef} into a temporary
 * file, cut off with "too large" past their limit; {@link Finish} waits for the stream, then commits
 * the file ({@link TrainingFiles#commit}). Its file I/O blocks: spawn it on a blocking dispatcher
 * ({@code DispatcherSelector.blocking()}).
 *
 * <p>Each buffer is charged to the tenant's storage quota ({@link UploadQuota}) before it is
 * written, as the blob store charges adapter uploads, so concurrent uploads of one tenant never put
 * more than its quota on disk. A stored file's hold stays for the caller to convert into the file's
 * reservation ({@code TenantProtocol.ReserveStorage} with {@code fromUpload}); every other end of an
 * upload (over a limit, aborted, failed) releases it here.
 */
public final class FileStoreActor {

    private static final Logger log = LoggerFactory.getLogger(FileStoreActor.class);

    private sealed interface Internal extends NoSerializationVerificationNeeded permits Written {
    }

    /** An upload's stream ended ({@code failure} null: completely). */
    private record Written(String uploadId, Throwable failure, ActorRef<Stored> replyTo) implements Internal {
    }

    private record Upload(TenantId tenant, String fileId, long maxBytes, CompletionStage<IOResult> written,
            UniqueKillSwitch kill, UploadHold hold) {
    }

    /** The tenant's storage quota refused a buffer: the stream stops before writing it. */
    private static final class OverQuota extends RuntimeException {
        OverQuota(String refusal) {
            super(refusal, null, false, false);
        }
    }

    private final ActorContext<Object> ctx;
    private final TrainingFiles files;
    private final FileStoreSettings settings;
    private final UploadQuota quota;
    private final Map<String, Upload> uploads = new HashMap<>();

    private FileStoreActor(ActorContext<Object> ctx, TrainingFiles files, FileStoreSettings settings, UploadQuota quota) {
        this.ctx = ctx;
        this.files = files;
        this.settings = settings;
        this.quota = quota;
    }

    /** A store charging no quota (tests of the store alone). */
    public static Behavior<Command> create(FileStoreSettings settings) {
        return create(settings, UploadQuota.NONE);
    }

    /** A store charging each upload's bytes to its tenant's storage {@code quota} before writing them. */
    public static Behavior<Command> create(FileStoreSettings settings, UploadQuota quota) {
        return Behaviors.<Object>setup(ctx -> {
            TrainingFiles files = new TrainingFiles(settings.root());
            ctx.getSystem().receptionist().tell(Receptionist.register(FileStoreProtocol.SERVICE_KEY, ctx.getSelf().narrow()));
            return new FileStoreActor(ctx, files, settings, quota).behavior();
        }).narrow();
    }

    private Behavior<Object> behavior() {
        return Behaviors.receive(Object.class)
                .onMessage(OpenUpload.class, this::onOpen)
                .onMessage(Finish.class, this::onFinish)
                .onMessage(Written.class, this::onWritten)
                .onMessage(Abort.class, this::onAbort)
                .onMessage(ReadFile.class, this::onRead)
                .onMessage(DeleteFile.class, this::onDelete)
                .build();
    }

    private Behavior<Object> onOpen(OpenUpload open) {
        if (open.maxBytes() < 1 || open.maxBytes() > settings.maxFileBytes()) {
            open.replyTo().tell(new UploadSink(null, null, "maxBytes must be 1 to " + settings.maxFileBytes() + ", got "
                    + open.maxBytes()));
            return Behaviors.same();
        }
        try {
            TrainingFiles.requireFileId(open.fileId());
        } catch (IllegalArgumentException e) {
            open.replyTo().tell(new UploadSink(null, null, e.getMessage()));
            return Behaviors.same();
        }
        String uploadId = UUID.randomUUID().toString();
        Path temp = files.uploadPath(uploadId);
        UploadHold hold = new UploadHold(quota, open.tenant(), uploadId, settings.quotaChunk());
        // over the file's limit is "too large" and charges nothing; within it, a buffer is written once the quota holds it
        AtomicLong received = new AtomicLong();
        Flow<ByteString, ByteString, ?> charged = Flow.of(ByteString.class).mapAsync(1, bytes ->
                hold.charge(received.addAndGet(bytes.size())).thenApply(refusal -> {
                    if (refusal != null) {
                        throw new OverQuota(refusal);
                    }
                    return bytes;
                }));
        Pair<Pair<SinkRef<ByteString>, UniqueKillSwitch>, CompletionStage<IOResult>> run = StreamRefs.<ByteString>sinkRef()
                .limitWeighted(open.maxBytes(), chunk -> (long) chunk.size())
                .viaMat(KillSwitches.single(), Keep.both())
                .via(charged)
                .toMat(FileIO.toPath(temp), Keep.both())
                .run(ctx.getSystem());
        uploads.put(uploadId, new Upload(open.tenant(), open.fileId(), open.maxBytes(), run.second(), run.first().second(), hold));
        open.replyTo().tell(new UploadSink(uploadId, run.first().first(), null));
        return Behaviors.same();
    }

    private Behavior<Object> onFinish(Finish finish) {
        Upload upload = uploads.get(finish.uploadId());
        if (upload == null) {
            finish.replyTo().tell(new Stored(null, false, "no upload " + finish.uploadId() + " in progress"));
            return Behaviors.same();
        }
        ctx.pipeToSelf(upload.written(), (result, failure) -> new Written(finish.uploadId(), failure, finish.replyTo()));
        return Behaviors.same();
    }

    private Behavior<Object> onWritten(Written written) {
        Upload upload = uploads.remove(written.uploadId());
        if (upload == null) {
            written.replyTo().tell(new Stored(null, false, "the upload was aborted"));
            return Behaviors.same();
        }
        try {
            if (written.failure() != null) {
                // the bytes leave the disk before their hold: released first, another upload could write them meanwhile
                files.discard(written.uploadId());
                upload.hold().release();
                boolean tooLarge = limitReached(written.failure());
                OverQuota overQuota = overQuota(written.failure());
                if (!tooLarge && overQuota == null) {
                    log.warn("training file {} of {}: the upload's stream failed", upload.fileId(), upload.tenant(), written.failure());
                }
                written.replyTo().tell(tooLarge ? new Stored(null, true, "the file exceeds the limit of " + upload.maxBytes() + " bytes")
                        : overQuota != null ? new Stored(null, false, true, overQuota.getMessage())
                        // the stream's own failure may name the temporary file: logged above, never sent
                        : new Stored(null, false, "the upload did not complete; send the file again"));
            } else {
                written.replyTo().tell(new Stored(files.commit(written.uploadId(), upload.tenant(), upload.fileId()), false, null));
            }
        } catch (IOException e) {
            discardQuietly(written.uploadId());
            upload.hold().release();
            ctx.getLog().error("storing training file {} failed", upload.fileId(), e);
            written.replyTo().tell(new Stored(null, false, "the file store could not store the file; send it again"));
        }
        return Behaviors.same();
    }

    private void discardQuietly(String uploadId) {
        try {
            files.discard(uploadId);
        } catch (IOException e) {
            // a leftover temporary file only costs disk until the next abort of the same id: log it
            ctx.getSystem().log().warn("could not remove upload {}: {}", uploadId, e.getMessage());
        }
    }

    private static OverQuota overQuota(Throwable failure) {
        for (Throwable t = failure; t != null; t = t.getCause()) {
            if (t instanceof OverQuota o) {
                return o;
            }
        }
        return null;
    }

    /** The file sink wraps the limit's failure in its own: look down the causes. */
    private static boolean limitReached(Throwable failure) {
        for (Throwable t = failure; t != null; t = t.getCause()) {
            if (t instanceof StreamLimitReachedException) {
                return true;
            }
        }
        return false;
    }

    private Behavior<Object> onAbort(Abort abort) {
        Upload upload = uploads.remove(abort.uploadId());
        if (upload != null) {
            upload.kill().abort(new IllegalStateException("upload aborted"));
            upload.written().whenComplete((r, f) -> {
                discardQuietly(abort.uploadId());
                upload.hold().release(); // once its bytes are gone
            });
        }
        return Behaviors.same();
    }

    private Behavior<Object> onRead(ReadFile read) {
        try {
            Path path = files.verified(read.file());
            SourceRef<ByteString> source = FileIO.fromPath(path).runWith(StreamRefs.sourceRef(), ctx.getSystem());
            read.replyTo().tell(new FileSource(read.file().fileId(), source, null));
        } catch (IOException | IllegalArgumentException e) {
            read.replyTo().tell(new FileSource(read.file().fileId(), null, e.getMessage()));
        }
        return Behaviors.same();
    }

    private Behavior<Object> onDelete(DeleteFile delete) {
        boolean existed;
        try {
            existed = files.delete(delete.tenant(), delete.fileId());
        } catch (IOException | IllegalArgumentException e) {
            ctx.getLog().warn("deleting training file {} of {} failed: {}", delete.fileId(), delete.tenant(), e.getMessage());
            existed = false;
        }
        delete.replyTo().tell(new Deleted(delete.fileId(), existed));
        return Behaviors.same();
    }
}
