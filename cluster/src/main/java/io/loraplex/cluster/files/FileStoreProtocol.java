package io.loraplex.cluster.files;

import io.loraplex.cluster.RemoteMessage;
import io.loraplex.cluster.TenantId;
import java.util.Objects;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.receptionist.ServiceKey;
import org.apache.pekko.stream.SinkRef;
import org.apache.pekko.stream.SourceRef;
import org.apache.pekko.util.ByteString;

/**
 * The store of tenants' training files ({@code tenant/file-id}). An upload streams in through a
 * {@code SinkRef} (never buffered whole), is counted against its byte limit as it flows, and becomes
 * readable only when {@link Finish} has fsynced and atomically renamed it. Reads stream out through
 * a {@code SourceRef} after the file's SHA-256 has been checked, so GPU nodes on other machines read
 * exactly what was uploaded.
 */
public final class FileStoreProtocol {

    public static final ServiceKey<Command> SERVICE_KEY = ServiceKey.create(Command.class, "loraplex-file-store");

    private FileStoreProtocol() {
    }

    /** Where a stored training file is, and what it must hash to. */
    public record FileRef(TenantId tenant, String fileId, String sha256, long bytes) implements RemoteMessage {
        public FileRef {
            Objects.requireNonNull(tenant, "tenant");
            Objects.requireNonNull(fileId, "fileId");
            Objects.requireNonNull(sha256, "sha256");
        }
    }

    public sealed interface Command extends RemoteMessage permits OpenUpload, Finish, Abort, ReadFile, DeleteFile {
    }

    /** Opens an upload of at most {@code maxBytes} that {@link Finish} stores as {@code fileId} of {@code tenant}. */
    public record OpenUpload(TenantId tenant, String fileId, long maxBytes, ActorRef<UploadSink> replyTo) implements Command {
    }

    /** Stream the file into {@code sink}; a refusal has {@code sink} null and {@code error} set. */
    public record UploadSink(String uploadId, SinkRef<ByteString> sink, String error) implements RemoteMessage {
    }

    /**
     * Ends an upload once its stream is done (waits for it): fsyncs the file, renames it into place
     * and answers its {@link FileRef}, or {@code error} (over the limit, over the tenant's storage
     * quota, a truncated stream). A stored file's bytes stay held against the quota under the
     * upload's id ({@code TenantProtocol.HoldUpload}) until the caller converts or releases the hold.
     */
    public record Finish(String uploadId, ActorRef<Stored> replyTo) implements Command {
    }

    /**
     * @param tooLarge  the file passed the upload's {@code maxBytes}
     * @param overQuota the tenant's storage quota refused its bytes; {@code error} names the quota
     */
    public record Stored(FileRef file, boolean tooLarge, boolean overQuota, String error) implements RemoteMessage {
        public Stored(FileRef file, boolean tooLarge, String error) {
            this(file, tooLarge, false, error);
        }

        public boolean ok() {
            return error == null;
        }
    }

    /** Drops an upload, its temporary file and its hold on the tenant's storage quota. */
    public record Abort(String uploadId) implements Command {
    }

    /** Streams a stored file after checking it against {@code file.sha256}. */
    public record ReadFile(FileRef file, ActorRef<FileSource> replyTo) implements Command {
    }

    /** The file's bytes, or {@code source} null and {@code error} (missing, corrupt). */
    public record FileSource(String fileId, SourceRef<ByteString> source, String error) implements RemoteMessage {
    }

    public record DeleteFile(TenantId tenant, String fileId, ActorRef<Deleted> replyTo) implements Command {
    }

    public record Deleted(String fileId, boolean existed) implements RemoteMessage {
    }
}
