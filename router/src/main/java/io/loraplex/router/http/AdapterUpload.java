package io.loraplex.router.http;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.loraplex.cluster.ContentHash;
import io.loraplex.cluster.adapter.AdapterProtocol;
import io.loraplex.cluster.adapter.AdapterProtocol.Reply;
import io.loraplex.cluster.adapter.AdapterProtocol.VersionState;
import io.loraplex.cluster.adapter.AdapterProtocol.VersionView;
import io.loraplex.cluster.blob.BlobProtocol;
import io.loraplex.cluster.tenant.TenantProtocol;
import io.loraplex.router.RouterSettings;
import java.time.Duration;
import java.util.List;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.function.Function;
import org.apache.pekko.Done;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.Multipart;
import org.apache.pekko.http.javadsl.unmarshalling.Unmarshaller;
import org.apache.pekko.http.scaladsl.model.EntityStreamSizeException;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.javadsl.Keep;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.util.ByteString;

/**
 * {@code POST /v1/adapters}: a multipart form with a {@code name} field and either the files
 * {@code adapter_config.json} and {@code adapter_model.safetensors} (recognised by part file name or
 * field name) or one {@code .tar}/{@code .tar.gz} holding them. Each file part streams straight into
 * a blob store's {@code SinkRef} (nothing is held in memory), the store checks and stores the blob,
 * then the caller's Adapter entity registers it as a new version and has it validated. Any failure
 * before the blob is stored aborts the upload, so nothing of it remains.
 *
 * <p>The store charges the bytes to the tenant's storage quota before writing them (an archive's
 * unpacked content too): over the quota the upload is refused with 413 naming it. The stored
 * blob's hold becomes its version's reservation at registration; what is left is released after.
 *
 * <p>A blob stored whose registration is then refused stays until the blob store's start sweep
 * removes unreferenced blobs: removing it here could take a blob another adapter of the tenant
 * with the same content uses.
 */
final class AdapterUpload {

    /** The form field holding the adapter's name. */
    static final String NAME_FIELD = "name";
    /**
     * The optional form field naming the base model the adapter is for: it is validated on a node
     * serving that base, and served only there. Required when the fleet serves several base models.
     */
    static final String BASE_MODEL_FIELD = "base_model";
    private static final int MAX_NAME_BYTES = 256;

    private final ActorSystem<?> system;
    private final RouterSettings settings;
    private final Entities entities;
    private final BlobStores stores;
    private final Materializer materializer;

    AdapterUpload(ActorSystem<?> system, RouterSettings settings, Entities entities, BlobStores stores,
            java.util.function.Supplier<java.util.Set<String>> baseModels) {
        this.baseModels = baseModels;
        this.system = system;
        this.settings = settings;
        this.entities = entities;
        this.stores = stores;
        this.materializer = Materializer.matFromSystem(system);
    }

    /** The base models' ids: a chat naming one reaches the base, so an adapter of that name could never be served. */
    private final java.util.function.Supplier<java.util.Set<String>> baseModels;

    /** One upload as its parts arrive; the parts are handled one at a time. */
    private static final class Upload {
        final Caller caller;
        volatile String name;
        volatile String baseModel;
        volatile ActorRef<BlobProtocol.Command> store;
        volatile String uploadId;

        Upload(Caller caller) {
            this.caller = caller;
        }
    }

    CompletionStage<HttpResponse> handle(HttpRequest request) {
        long limit = settings.maxAdapterUploadBytes();
        CompletionStage<HttpResponse> response = entities.authorize(request, TenantProtocol.Scope.MANAGE).thenCompose(caller -> {
            var mediaType = request.entity().getContentType().mediaType();
            if (!mediaType.mainType().equals("multipart") || !mediaType.subType().equals("form-data")) {
                throw ApiError.invalid(null, "POST /v1/adapters takes multipart/form-data (a 'name' field and the files "
                        + ContentHash.CONFIG_FILE + " and " + ContentHash.WEIGHTS_FILE + ", or one .tar/.tar.gz), got "
                        + request.entity().getContentType()).toException();
            }
            OptionalLong declared = request.entity().getContentLengthOption();
            if (declared.isPresent() && declared.getAsLong() > limit) {
                throw ApiError.tooLarge(limit).toException();
            }
            Upload upload = new Upload(caller);
            return Unmarshaller.entityToMultipartFormData().unmarshal(request.entity().withSizeLimit(limit), materializer)
                    .thenCompose(form -> form.getParts()
                            .mapAsync(1, part -> part(upload, part))
                            .runWith(Sink.ignore(), materializer))
                    .handle((done, failure) -> failure)
                    .thenCompose(failure -> failure == null ? store(upload) : failed(upload, failure));
        });
        return response.exceptionally(t -> {
            request.discardEntityBytes(materializer);
            return Responses.error(Responses.errorOf(t));
        });
    }

    /** Takes in one part: the name, or a file streamed into the blob store. */
    private CompletionStage<Done> part(Upload upload, Multipart.FormData.BodyPart part) {
        String field = part.getName();
        String fileName = baseName(part.getFilename().orElse(""));
        ApiError badName = UploadParts.fileNameProblem(field, fileName);
        if (badName != null) {
            part.getEntity().discardBytes(materializer);
            return CompletableFuture.failedFuture(badName.toException());
        }
        if (fileName.isEmpty() && field.equals(NAME_FIELD)) {
            return text(part, NAME_FIELD, "an adapter name has 1-64 characters").thenApply(name -> {
                if (upload.name != null) {
                    throw ApiError.invalid(NAME_FIELD, "the form has more than one 'name' field").toException();
                }
                upload.name = name;
                return Done.getInstance();
            });
        }
        if (fileName.isEmpty() && field.equals(BASE_MODEL_FIELD)) {
            return text(part, BASE_MODEL_FIELD, "a base model id as GET /v1/models lists it").thenApply(base -> {
                if (upload.baseModel != null) {
                    throw ApiError.invalid(BASE_MODEL_FIELD, "the form has more than one 'base_model' field").toException();
                }
                upload.baseModel = base;
                return Done.getInstance();
            });
        }
        String file = UploadParts.fileOf(field, fileName);
        if (file == null) {
            part.getEntity().discardBytes(materializer);
            return CompletableFuture.failedFuture(ApiError.invalid(field, "unexpected form field '" + field + "': POST /v1/adapters "
                    + "takes a 'name' field and the files " + ContentHash.CONFIG_FILE + " and " + ContentHash.WEIGHTS_FILE
                    + ", or one .tar/.tar.gz file").toException());
        }
        UploadParts.Kind kind = UploadParts.kindOf(file);
        return begin(upload)
                .thenCompose(id -> this.<BlobProtocol.FileSink>askStore(upload, replyTo -> switch (kind) {
                    case FILE -> new BlobProtocol.PutFile(id, file, replyTo);
                    case TAR -> new BlobProtocol.PutArchive(id, false, replyTo);
                    case TAR_GZ -> new BlobProtocol.PutArchive(id, true, replyTo);
                }))
                .thenCompose(sink -> {
                    if (sink.sink() == null) {
                        part.getEntity().discardBytes(materializer);
                        throw storeError(sink.error());
                    }
                    return part.getEntity().getDataBytes().watchTermination(Keep.right()).to(sink.sink().getSink())
                            .run(materializer);
                });
    }

    /** A short text field's value, stripped; {@code expected} says what it holds when it is too long. */
    private CompletionStage<String> text(Multipart.FormData.BodyPart part, String field, String expected) {
        return part.getEntity().getDataBytes().limitWeighted(MAX_NAME_BYTES, bytes -> (long) bytes.size())
                .runFold(ByteString.emptyByteString(), ByteString::concat, materializer)
                .handle((bytes, failure) -> {
                    if (failure != null) {
                        throw ApiError.invalid(field, "the '" + field + "' field is too long (" + expected + ")").toException();
                    }
                    return bytes.utf8String().strip();
                });
    }

    /** Opens the blob store upload at the first file part. */
    private CompletionStage<String> begin(Upload upload) {
        if (upload.uploadId != null) {
            return CompletableFuture.completedFuture(upload.uploadId);
        }
        return stores.pick(settings.manageTimeout()).thenCompose(store -> {
            upload.store = store;
            return this.<BlobProtocol.UploadOpened>askStore(upload,
                    replyTo -> new BlobProtocol.BeginUpload(upload.caller.tenant(), settings.maxAdapterUploadBytes(), replyTo));
        }).thenApply(opened -> {
            upload.uploadId = opened.uploadId();
            return opened.uploadId();
        });
    }

    /** Every part is in: checks the name, finishes the blob and registers the version. */
    private CompletionStage<HttpResponse> store(Upload upload) {
        String refusal = upload.name == null ? "you must provide 'name', a form field with the adapter's name"
                : baseModels.get().contains(upload.name) ? "the adapter name '" + upload.name
                        + "' is the id of the base model; requests naming it would reach the base model, so choose another name"
                : nameProblem(upload.name);
        if (refusal != null) {
            abort(upload);
            throw ApiError.invalid(NAME_FIELD, refusal).toException();
        }
        String baseRefusal = baseModelProblem(upload.baseModel, baseModels.get());
        if (baseRefusal != null) {
            abort(upload);
            throw ApiError.invalid(BASE_MODEL_FIELD, baseRefusal).toException();
        }
        if (upload.uploadId == null) {
            throw ApiError.invalid(null, "the form has no adapter files: send " + ContentHash.CONFIG_FILE + " and "
                    + ContentHash.WEIGHTS_FILE + ", or one .tar/.tar.gz holding them").toException();
        }
        return finish(upload).thenCompose(stored -> {
            if (!stored.ok()) {
                throw storeError(stored);
            }
            // the upload's hold on the quota becomes the version's reservation in the registration
            return entities.adapter(upload.caller.tenant(), upload.name, replyTo -> new AdapterProtocol.RegisterVersion(
                            upload.caller.tenant(), upload.name, stored.hash(), stored.bytes(), "upload", stored.uploadId(),
                            upload.baseModel, replyTo),
                    settings.registerTimeout())
                    .whenComplete((reply, failure) -> releaseHold(upload))
                    .thenApply(reply -> registered(upload.name, stored.hash(), reply));
        });
    }

    /** 201 for a READY version, 202 while its validation is still pending, 422 when it was rejected. */
    private static HttpResponse registered(String name, ContentHash hash, Reply reply) {
        if (!reply.ok()) {
            throw AdapterFlow.refusal(reply, name).toException();
        }
        VersionView version = newest(reply.view() == null ? List.of() : reply.view().versions(), hash);
        if (version == null) {
            throw ApiError.internal("the adapter service registered " + name + " but lists no version with hash " + hash)
                    .toException();
        }
        if (version.state() == VersionState.REJECTED) {
            throw ApiError.adapterRejected("adapter " + name + " version " + version.version() + " was rejected: "
                    + version.reason()).toException();
        }
        ObjectNode body = AdapterJson.version(name, version, true);
        return Responses.json(version.state() == VersionState.UPLOADED ? 202 : 201, body);
    }

    private static VersionView newest(List<VersionView> versions, ContentHash hash) {
        VersionView found = null;
        for (VersionView v : versions) {
            if (hash.equals(v.hash()) && (found == null || v.version() > found.version())) {
                found = v;
            }
        }
        return found;
    }

    /**
     * The form failed part-way. A refusal of ours or a body over the limit aborts the upload; any
     * other failure (the blob store cut a stream, the client went away) asks the store why, through
     * Finish, which removes the upload's files as well.
     */
    private CompletionStage<HttpResponse> failed(Upload upload, Throwable failure) {
        Throwable cause = Responses.unwrap(failure);
        for (Throwable t = cause; t != null; t = t.getCause()) {
            if (t instanceof EntityStreamSizeException) {
                abort(upload);
                throw ApiError.tooLarge(settings.maxAdapterUploadBytes()).toException();
            }
        }
        if (cause instanceof ApiException || upload.uploadId == null) {
            abort(upload);
            throw cause instanceof ApiException api ? api
                    : ApiError.invalid(null, "could not read the multipart body: " + cause.getMessage()).toException();
        }
        return finish(upload).thenApply(stored -> {
            releaseHold(upload);
            if (!stored.ok()) {
                throw storeError(stored);
            }
            // the store got whole files, but the form around them broke: its blob stays unreferenced until the sweep
            throw ApiError.invalid(null, "could not read the multipart body: " + cause.getMessage()).toException();
        });
    }

    private CompletionStage<BlobProtocol.Stored> finish(Upload upload) {
        return askStore(upload, replyTo -> new BlobProtocol.Finish(upload.uploadId, replyTo));
    }

    /**
     * Drops what is left of the upload's hold on the quota: nothing once the registration converted
     * it; the whole hold when the registration reused a version, was refused or did not answer.
     */
    private void releaseHold(Upload upload) {
        entities.<TenantProtocol.Ack>tenant(upload.caller.tenant(), replyTo -> new TenantProtocol.ReleaseUpload(upload.uploadId, replyTo));
    }

    private void abort(Upload upload) {
        if (upload.uploadId != null) {
            upload.store.tell(new BlobProtocol.Abort(upload.uploadId));
        }
    }

    private <R> CompletionStage<R> askStore(Upload upload, Function<ActorRef<R>, BlobProtocol.Command> message) {
        // Finish waits for the blob to be hashed and fsynced: as long as registration may take
        Duration timeout = settings.registerTimeout();
        return AskPattern.<BlobProtocol.Command, R>ask(upload.store, message::apply, timeout, system.scheduler())
                .exceptionally(t -> {
                    throw ApiError.unavailable("The blob store did not answer; retry the upload.").toException();
                });
    }

    /** 413 naming the quota or the limit when the store refused the bytes for either; else as {@link #storeError(String)}. */
    private static ApiException storeError(BlobProtocol.Stored stored) {
        if (stored.overQuota()) {
            return ApiError.quotaExceeded(stored.error()).toException();
        }
        if (stored.overLimit()) {
            return new ApiError(413, stored.error(), ApiError.INVALID_REQUEST, null, "request_too_large", 0).toException();
        }
        return storeError(stored.error());
    }

    /** 400 for a refused file or archive (the message names the problem). */
    private static ApiException storeError(String error) {
        return new ApiError(400, error, ApiError.INVALID_REQUEST, null, "invalid_adapter_upload", 0).toException();
    }

    /**
     * Why {@code baseModel} cannot name the adapter's base, or null: it must be one the fleet serves
     * (or has served); left out, the fleet must serve exactly one (the version is then validated on
     * it), since an adapter validated on a node of another base would be refused or, with the same
     * shapes, silently served on the wrong base.
     */
    static String baseModelProblem(String baseModel, java.util.Set<String> served) {
        if (baseModel == null) {
            return served.size() > 1 ? "this fleet serves several base models " + new java.util.TreeSet<>(served)
                    + "; name the one the adapter is for in the 'base_model' field" : null;
        }
        if (baseModel.isEmpty()) {
            return "the 'base_model' field is empty; name a base model of this fleet: " + new java.util.TreeSet<>(served);
        }
        if (!served.isEmpty() && !served.contains(baseModel)) {
            return "'" + baseModel + "' is not a base model of this fleet; it serves " + new java.util.TreeSet<>(served);
        }
        return null;
    }

    private static String nameProblem(String name) {
        try {
            AdapterProtocol.requireName(name);
            return null;
        } catch (IllegalArgumentException e) {
            return e.getMessage();
        }
    }

    /** The last segment of a client's file name (some clients send a path). */
    private static String baseName(String fileName) {
        int cut = Math.max(fileName.lastIndexOf('/'), fileName.lastIndexOf('\\'));
        return fileName.substring(cut + 1).strip();
    }
}
