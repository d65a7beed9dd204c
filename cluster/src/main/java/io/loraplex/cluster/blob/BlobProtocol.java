package io.loraplex.cluster.blob;

import io.loraplex.cluster.ContentHash;
import io.loraplex.cluster.RemoteMessage;
import io.loraplex.cluster.TenantId;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.receptionist.ServiceKey;
import org.apache.pekko.stream.SinkRef;
import org.apache.pekko.stream.SourceRef;
import org.apache.pekko.util.ByteString;

/**
 * The content-addressed blob store of adapter files, per tenant ({@code tenant/contentHash/}).
 * Uploads stream into it through {@code SinkRef}s (never buffered whole), land in a temporary
 * place, and become visible only when {@link Finish} has checked, fsynced and atomically renamed
 * them. Every read verifies the content hash.
 */
public final class BlobProtocol {

    /** Blob stores that take uploads (router JVMs: the durable copy, swept at start against the journal). */
    public static final ServiceKey<Command> SERVICE_KEY = ServiceKey.create(Command.class, "loraplex-blob-store");
    /**
     * Every blob store others may read from ({@link ReadBlob}): the routers' stores and each GPU node's
     * own copies. A node missing an adapter streams it from any of them and checks its hash.
     */
    public static final ServiceKey<Command> SOURCE_KEY = ServiceKey.create(Command.class, "loraplex-blob-source");

    private BlobProtocol() {
    }

    public sealed interface Command extends RemoteMessage permits BeginUpload, PutFile, PutArchive, Finish, Abort, DeleteBlob, ReadBlob {
    }

    /** Opens an upload of at most {@code maxBytes} for {@code tenant}. */
    public record BeginUpload(TenantId tenant, long maxBytes, ActorRef<UploadOpened> replyTo) implements Command {
    }

    public record UploadOpened(String uploadId) implements RemoteMessage {
    }

    /**
     * A sink for one file of an upload ({@code adapter_config.json} or
     * {@code adapter_model.safetensors}; other names are refused).
     */
    public record PutFile(String uploadId, String fileName, ActorRef<FileSink> replyTo) implements Command {
    }

    /** A sink for a {@code .tar} (or {@code .tar.gz} when {@code gzip}) holding the two files. */
    public record PutArchive(String uploadId, boolean gzip, ActorRef<FileSink> replyTo) implements Command {
    }

    /** Stream the bytes into {@code sink}; a refusal has {@code sink} null and {@code error} set. */
    public record FileSink(String uploadId, SinkRef<ByteString> sink, String error) implements RemoteMessage {
    }

    /**
     * Ends an upload once its streams are done: checks the two files are there and within the
     * limit, computes the content hash, fsyncs and renames into {@code tenant/hash/}.
     */
    public record Finish(String uploadId, ActorRef<Stored> replyTo) implements Command {
    }

    /**
     * The stored blob, or {@code error} (truncated stream, over the limit, a missing or unexpected file, unsafe path);
     * {@code overQuota}: refused because the tenant's storage quota could not hold its bytes (checked as they were written);
     * {@code overLimit}: refused because the upload (or an archive's unpacked content) exceeds the store's limit.
     * A stored blob's bytes stay held against the quota under {@code uploadId} until its registration converts the hold.
     */
    public record Stored(String uploadId, ContentHash hash, long bytes, String error, boolean overQuota, boolean overLimit)
            implements RemoteMessage {
        public Stored(String uploadId, ContentHash hash, long bytes, String error) {
            this(uploadId, hash, bytes, error, false, false);
        }

        public Stored(String uploadId, ContentHash hash, long bytes, String error, boolean overQuota) {
            this(uploadId, hash, bytes, error, overQuota, false);
        }

        public boolean ok() {
            return error == null;
        }
    }

    /** Drops an upload and its temporary files. */
    public record Abort(String uploadId) implements Command {
    }

    /** Removes a stored blob. */
    public record DeleteBlob(TenantId tenant, ContentHash hash, ActorRef<Deleted> replyTo) implements Command {
    }

    public record Deleted(ContentHash hash, boolean existed) implements RemoteMessage {
    }

    /** Streams a stored blob's two files to another node. */
    public record ReadBlob(TenantId tenant, ContentHash hash, ActorRef<BlobRead> replyTo) implements Command {
    }

    /**
     * A stored blob's files as streams (chunked), with their sizes; {@code error} set (and the refs
     * null) when this store does not hold it. The reader checks the content hash of what arrives.
     */
    public record BlobRead(ContentHash hash, SourceRef<ByteString> config, long configBytes, SourceRef<ByteString> weights,
            long weightsBytes, String error) implements RemoteMessage {
        public boolean ok() {
            return error == null;
        }
    }
}
