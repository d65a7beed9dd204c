package io.loraplex.router.http;

import io.loraplex.cluster.files.FileStoreProtocol;
import io.loraplex.cluster.files.FileStoreProtocol.FileRef;
import io.loraplex.cluster.finetune.FineTuneProtocol;
import io.loraplex.cluster.finetune.FineTuneProtocol.FileInfo;
import io.loraplex.cluster.node.GpuNodeProtocol;
import io.loraplex.cluster.tenant.TenantProtocol;
import io.loraplex.router.placement.Placement;
import java.security.SecureRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.stream.Collectors;
import org.apache.pekko.Done;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.Multipart;
import org.apache.pekko.http.javadsl.unmarshalling.Unmarshaller;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.javadsl.Keep;
import org.apache.pekko.stream.javadsl.Sink;

/**
 * {@code /v1/files}: an upload streams its {@code file} part into the file store (never held whole
 * in memory), a GPU node validates it as training data, and only a valid file is recorded in the
 * tenant's FineTune entity; an invalid one is deleted and refused with its problems by line.
 *
 * <p>A file counts against the tenant's storage quota: the store charges its bytes before writing
 * them (413 naming the quota past it), and a stored file's hold becomes a reservation under its file
 * id, given back when the file is refused or deleted.
 */
final class FilesFlow {

    /** Problems listed in a refusal; more are counted, not listed. */
    private static final int MAX_PROBLEMS = 20;
    private static final SecureRandom RANDOM = new SecureRandom();

    private final FineTuneCalls calls;
    private final Placement placement;
    private final Materializer materializer;

    FilesFlow(FineTuneCalls calls, Placement placement) {
        this.calls = calls;
        this.placement = placement;
        this.materializer = Materializer.matFromSystem(calls.system);
    }

    /** What the parts of one upload brought. */
    private static final class Upload {
        volatile String purpose;
        volatile String filename;
        volatile FileRef stored;
        /** The stored file's bytes are reserved under its id: a failure after must release them. */
        volatile boolean reserved;
        volatile ApiError refused;
        /** The file store's upload of the 'file' part, once opened: its Finish says why a stream was cut. */
        volatile ActorRef<FileStoreProtocol.Command> store;
        volatile String storeUploadId;
        private CompletionStage<FileStoreProtocol.Stored> finished;

        /** The store's Finish, asked once: the part's own flow and a failing form both wait for the same answer. */
        synchronized CompletionStage<FileStoreProtocol.Stored> finish(FineTuneCalls calls) {
            if (finished == null) {
                String id = storeUploadId;
                finished = calls.askStore(store, replyTo -> new FileStoreProtocol.Finish(id, replyTo));
            }
            return finished;
        }
    }

    CompletionStage<HttpResponse> upload(HttpRequest request) {
        return calls.caller(request).thenCompose(caller -> {
            String fileId = "file-" + randomId();
            Upload upload = new Upload();
            return Unmarshaller.entityToMultipartFormData()
                    .unmarshal(request.entity().withSizeLimit(calls.settings.maxFileBytes() + 64 * 1024), materializer)
                    .exceptionally(t -> {
                        if (UploadParts.hitSizeLimit(t)) {
                            throw ApiError.tooLarge(calls.settings.maxFileBytes()).toException();
                        }
                        throw ApiError.invalid(null, "the body must be multipart/form-data with a 'file' and a 'purpose' part: "
                                + Responses.unwrap(t).getMessage()).toException();
                    })
                    .thenCompose(form -> form.getParts()
                            .mapAsync(1, part -> part(caller, fileId, part, upload))
                            .runWith(Sink.ignore(), materializer)
                            .handle((done, t) -> t)
                            .thenCompose(t -> t == null ? CompletableFuture.completedFuture(Done.getInstance()) : formFailed(caller, upload, t)))
                    .thenCompose(done -> validate(caller, upload))
                    .whenComplete((response, failure) -> {
                        if (failure != null && upload.stored != null) {
                            delete(upload.stored);
                            if (upload.reserved) {
                                release(caller, upload.stored.fileId());
                            }
                        }
                    });
        }).exceptionally(t -> {
            // the form parser reaches the body's limit before the file's stream does when the body is far above it
            if (!(Responses.unwrap(t) instanceof ApiException) && UploadParts.hitSizeLimit(t)) {
                return Responses.error(ApiError.tooLarge(calls.settings.maxFileBytes()));
            }
            return failed(t);
        });
    }

    private CompletionStage<Done> part(Caller caller, String fileId, Multipart.FormData.BodyPart part, Upload upload) {
        return switch (part.getName()) {
            case "purpose" -> part.toStrict(calls.settings.askTimeout().toMillis(), materializer)
                    .thenApply(strict -> {
                        upload.purpose = strict.getEntity().getData().utf8String();
                        return Done.getInstance();
                    });
            case "file" -> {
                if (upload.stored != null || upload.refused != null) {
                    part.getEntity().discardBytes(materializer);
                    throw ApiError.invalid("file", "only one 'file' part may be sent").toException();
                }
                upload.filename = part.getFilename().orElse("upload.jsonl");
                ApiError badName = UploadParts.fileNameProblem("file", upload.filename);
                if (badName != null) {
                    part.getEntity().discardBytes(materializer);
                    throw badName.toException();
                }
                yield store(caller, fileId, part, upload);
            }
            default -> {
                part.getEntity().discardBytes(materializer);
                throw ApiError.unknown(part.getName()).toException();
            }
        };
    }

    /**
     * The form failed. A refusal of ours or a body over its limit stands; when the file store had
     * the part, it may have cut the stream itself (the file's limit, the tenant's quota), which
     * fails the parser before the part's own flow hears it: the store's Finish says which.
     */
    private CompletionStage<Done> formFailed(Caller caller, Upload upload, Throwable t) {
        Throwable cause = Responses.unwrap(t);
        if (cause instanceof ApiException || UploadParts.hitSizeLimit(cause)) {
            return CompletableFuture.failedFuture(cause);
        }
        // the parser failing part-way (a part header over its limit, a broken boundary) is the body's fault
        ApiException broken = ApiError.invalid(null, "could not read the multipart body: " + cause.getMessage()).toException();
        if (upload.storeUploadId == null || upload.stored != null) {
            return CompletableFuture.failedFuture(broken);
        }
        long limit = calls.settings.maxFileBytes();
        return upload.finish(calls).thenApply(stored -> {
            if (stored.tooLarge()) {
                throw ApiError.tooLarge(limit).toException();
            }
            if (stored.overQuota()) {
                throw ApiError.quotaExceeded(stored.error()).toException();
            }
            if (stored.ok()) {
                // whole in the store, but the form around it broke: not what the client meant to send
                delete(stored.file());
                releaseHold(caller, upload.storeUploadId);
            }
            throw broken;
        });
    }

    /** Streams the part into the file store and waits for the store to commit it. */
    private CompletionStage<Done> store(Caller caller, String fileId, Multipart.FormData.BodyPart part, Upload upload) {
        long limit = calls.settings.maxFileBytes();
        return calls.fileStore().thenCompose(store -> calls.<FileStoreProtocol.UploadSink>askStore(store,
                        replyTo -> new FileStoreProtocol.OpenUpload(caller.tenant(), fileId, limit, replyTo))
                .thenCompose(sink -> {
                    if (sink.error() != null) {
                        part.getEntity().discardBytes(materializer);
                        throw ApiError.unavailable("The file store refused the upload: " + sink.error()).toException();
                    }
                    upload.store = store;
                    upload.storeUploadId = sink.uploadId();
                    CompletionStage<Done> sent = part.getEntity().getDataBytes()
                            .watchTermination(Keep.right())
                            .to(sink.sink().getSink())
                            .run(materializer);
                    return sent.handle((ok, failure) -> failure)
                            .thenCompose(failure -> {
                                if (failure != null && UploadParts.hitSizeLimit(failure)) {
                                    store.tell(new FileStoreProtocol.Abort(sink.uploadId()));
                                    throw ApiError.tooLarge(limit).toException();
                                }
                                // the store may have cut the stream (a limit, the quota): Finish says why, and cleans up
                                return upload.finish(calls)
                                        .thenApply(stored -> {
                                            if (failure != null && stored.ok()) {
                                                // whole in the store, but the client's part broke: not what it meant to send
                                                delete(stored.file());
                                                releaseHold(caller, sink.uploadId());
                                                throw ApiError.invalid("file", "the upload did not complete: "
                                                        + Responses.unwrap(failure).getMessage()).toException();
                                            }
                                            return stored;
                                        });
                            })
                            .thenCompose(stored -> {
                                if (stored.tooLarge()) {
                                    throw ApiError.tooLarge(limit).toException();
                                }
                                if (stored.overQuota()) {
                                    throw ApiError.quotaExceeded(stored.error()).toException();
                                }
                                if (!stored.ok()) {
                                    throw ApiError.unavailable("The file store could not store the file: " + stored.error())
                                            .toException();
                                }
                                upload.stored = stored.file();
                                return reserve(caller, stored.file(), sink.uploadId(), upload);
                            });
                }));
    }

    /**
     * The stored file's hold becomes its reservation (key: its file id), in one step at the tenant,
     * so its bytes never count twice nor go uncounted; then what is left of the hold is dropped.
     */
    private CompletionStage<Done> reserve(Caller caller, FileRef file, String uploadId, Upload upload) {
        return calls.<TenantProtocol.Ack>tenant(caller, replyTo -> new TenantProtocol.ReserveStorage(file.fileId(), file.bytes(),
                        null, uploadId, replyTo))
                .whenComplete((ack, failure) -> releaseHold(caller, uploadId))
                .thenApply(ack -> {
                    if (!ack.ok()) {
                        throw ApiError.quotaExceeded(ack.message()).toException();
                    }
                    upload.reserved = true;
                    return Done.getInstance();
                });
    }

    private void releaseHold(Caller caller, String uploadId) {
        calls.<TenantProtocol.Ack>tenant(caller, replyTo -> new TenantProtocol.ReleaseUpload(uploadId, replyTo));
    }

    /** Gives back a file's reservation: it was refused, or deleted. */
    private CompletionStage<TenantProtocol.Ack> release(Caller caller, String fileId) {
        return calls.tenant(caller, replyTo -> new TenantProtocol.ReleaseStorage(fileId, replyTo));
    }

    /** Checks the parts, has a GPU node validate the file, and records it. */
    private CompletionStage<HttpResponse> validate(Caller caller, Upload upload) {
        if (upload.stored == null) {
            throw ApiError.invalid("file", "'file' is required: the training data, as a multipart part named 'file'").toException();
        }
        if (upload.purpose == null) {
            throw ApiError.invalid("purpose", "'purpose' is required; this server accepts 'fine-tune'").toException();
        }
        if (!FineTuneProtocol.PURPOSE_FINE_TUNE.equals(upload.purpose)) {
            throw ApiError.invalid("purpose", "'purpose' must be 'fine-tune', got '" + upload.purpose + "'").toException();
        }
        ActorRef<GpuNodeProtocol.Command> node = placement.pick(null, null).orElseThrow(() -> ApiError.unavailable(
                "No GPU node is ready to validate the training file; retry the request.").toException());
        FileRef stored = upload.stored;
        return AskPattern.<GpuNodeProtocol.Command, GpuNodeProtocol.TrainingFileVerdict>ask(node,
                        replyTo -> new GpuNodeProtocol.ValidateTrainingFile(caller.tenant(), stored, replyTo),
                        calls.settings.validateTimeout(), calls.system.scheduler())
                .exceptionally(t -> {
                    throw ApiError.unavailable("The GPU node did not validate the file in time; retry the request.").toException();
                })
                .thenCompose(verdict -> {
                    if (!verdict.valid()) {
                        throw invalidFile(verdict).toException();
                    }
                    FileInfo info = new FileInfo(stored.fileId(), upload.filename, stored.bytes(), upload.purpose,
                            System.currentTimeMillis() / 1000, "processed", null, stored.sha256(), verdict.examples(),
                            verdict.tokens());
                    return calls.<FineTuneProtocol.FileReply>ask(caller, replyTo -> new FineTuneProtocol.AddFile(info, replyTo));
                })
                .thenApply(reply -> Responses.json(200, FineTuneJson.file(reply.file())));
    }

    /** 400 listing the problems by line, as the trainer reports them. */
    static ApiError invalidFile(GpuNodeProtocol.TrainingFileVerdict verdict) {
        String problems = verdict.problems().stream().limit(MAX_PROBLEMS)
                .map(p -> p.line() > 0 ? "line " + p.line() + ": " + p.message() : p.message())
                .collect(Collectors.joining("; "));
        int more = verdict.problems().size() - MAX_PROBLEMS;
        return new ApiError(400, "Invalid file format for fine-tuning: " + problems
                + (more > 0 ? "; and " + more + " more problems" : ""), ApiError.INVALID_REQUEST, "file", "invalid_training_file", 0);
    }

    private void delete(FileRef file) {
        calls.fileStore().thenAccept(store -> store.tell(new FileStoreProtocol.DeleteFile(file.tenant(), file.fileId(),
                calls.system.ignoreRef())));
    }

    CompletionStage<HttpResponse> list(HttpRequest request) {
        return calls.caller(request)
                .thenCompose(caller -> calls.<FineTuneProtocol.FileList>ask(caller, FineTuneProtocol.ListFiles::new))
                .thenApply(list -> Responses.json(200, FineTuneJson.list(list.files(), FineTuneJson::file, false)))
                .exceptionally(FilesFlow::failed);
    }

    CompletionStage<HttpResponse> get(HttpRequest request, String fileId) {
        return calls.caller(request)
                .thenCompose(caller -> calls.<FineTuneProtocol.FileReply>ask(caller, r -> new FineTuneProtocol.GetFile(fileId, r)))
                .thenApply(reply -> Responses.json(200, FineTuneJson.file(found(reply))))
                .exceptionally(FilesFlow::failed);
    }

    /** Forgets the file in the entity first (refused while a job uses it), then deletes its bytes and gives back its quota. */
    CompletionStage<HttpResponse> delete(HttpRequest request, String fileId) {
        return calls.caller(request).thenCompose(caller -> calls.<FineTuneProtocol.FileReply>ask(caller,
                        r -> new FineTuneProtocol.DeleteFile(fileId, r))
                .thenCompose(reply -> {
                    FileInfo file = found(reply);
                    return calls.fileStore()
                            .thenCompose(store -> calls.<FileStoreProtocol.Deleted>askStore(store,
                                    r -> new FileStoreProtocol.DeleteFile(caller.tenant(), file.id(), r)))
                            // the entity forgot the file: its bytes are no longer the tenant's to keep, whether or not the store answered
                            .handle((deleted, failure) -> failure)
                            .thenCompose(failure -> release(caller, file.id()))
                            .handle((released, failure) -> Responses.json(200, FineTuneJson.deletedFile(file.id())));
                }))
                .exceptionally(FilesFlow::failed);
    }

    private static FileInfo found(FineTuneProtocol.FileReply reply) {
        if (!reply.ok()) {
            throw FineTuneCalls.error(reply.error(), "id", reply.message()).toException();
        }
        return reply.file();
    }

    private static String randomId() {
        String alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        StringBuilder id = new StringBuilder(24);
        for (int i = 0; i < 24; i++) {
            id.append(alphabet.charAt(RANDOM.nextInt(alphabet.length())));
        }
        return id.toString();
    }

    static HttpResponse failed(Throwable t) {
        return Responses.error(Responses.errorOf(t));
    }
}
