package io.loraplex.cluster.adapter;

import io.loraplex.cluster.ContentHash;
import io.loraplex.cluster.RemoteMessage;
import io.loraplex.cluster.TenantId;
import java.util.List;
import java.util.Objects;
import java.util.regex.Pattern;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityTypeKey;

/**
 * The event-sourced {@code Adapter} entity, one per (tenant, adapter name), sharded on the router
 * role: the source of truth for an adapter's immutable versions and their lifecycle. It answers a
 * promote, rollback or delete only after the tenant's catalog has persisted the change.
 */
public final class AdapterProtocol {

    public static final EntityTypeKey<Command> TYPE_KEY = EntityTypeKey.create(Command.class, "Adapter");

    /** Adapter names: 1-64 of letters, digits, '.', '_' and '-', starting with a letter or digit. */
    public static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");

    private AdapterProtocol() {
    }

    /** The entity id of a tenant's adapter name. */
    public static String entityId(TenantId tenant, String name) {
        requireName(name);
        return tenant.value() + "|" + name;
    }

    public static String requireName(String name) {
        if (name == null || !NAME.matcher(name).matches()) {
            throw new IllegalArgumentException("an adapter name is 1-64 characters of letters, digits, '.', '_' and '-', "
                    + "starting with a letter or digit; got: " + name);
        }
        return name;
    }

    /** Where a version is in its lifecycle. */
    public enum VersionState {
        /** Its blob is stored; validation on a GPU node is pending. */
        UPLOADED,
        /** A GPU node refused it; {@code reason} says why. */
        REJECTED,
        /** Validated against a base; may be canaried or promoted. */
        READY,
        /** Serving a share of the traffic beside the promoted version. */
        CANARY,
        /** The version {@code model: "<name>"} serves. */
        PROMOTED,
        /** It was promoted, then rolled back. */
        ROLLED_BACK,
        /** Taken out of service; kept until deleted. */
        RETIRED,
        /** Its blob is gone. */
        DELETED,
        /**
         * A GPU node saw it turn a request's logits non-finite and quarantined it; {@code reason}
         * says so. It left the catalog and is never served again; kept until deleted.
         */
        FAILED
    }

    public sealed interface Command extends RemoteMessage
            permits RegisterVersion, Promote, StartCanary, StopCanary, Rollback, Retire, Delete, Get, MarkFailed {
    }

    /**
     * Records a new version whose files the blob store holds under {@code hash}; reserves its bytes
     * against the tenant's storage quota, then has it validated on a GPU node. Replies once the
     * version is READY or REJECTED (or refused outright: quota, a deleted adapter being reused…).
     *
     * @param source    "upload" or "training"
     * @param uploadId  the blob store upload whose quota hold becomes this version's reservation; null when none
     * @param baseModel the base model id the version is for: it is validated on a node serving that base;
     *                  null: the fleet's only base model (refused when the fleet serves several)
     */
    public record RegisterVersion(TenantId tenant, String name, ContentHash hash, long bytes, String source, String uploadId,
            String baseModel, ActorRef<Reply> replyTo) implements Command {
        public RegisterVersion {
            Objects.requireNonNull(tenant, "tenant");
            requireName(name);
            Objects.requireNonNull(hash, "hash");
        }

        /** A version for the fleet's only base whose bytes no upload holds quota for (tests). */
        public RegisterVersion(TenantId tenant, String name, ContentHash hash, long bytes, String source, ActorRef<Reply> replyTo) {
            this(tenant, name, hash, bytes, source, null, null, replyTo);
        }
    }

    /** Promotes {@code version} (null: the newest READY one): the name now serves it. */
    public record Promote(Integer version, ActorRef<Reply> replyTo) implements Command {
    }

    /** Sends {@code share} (0 < share < 1) of the name's traffic to {@code version}. */
    public record StartCanary(int version, double share, ActorRef<Reply> replyTo) implements Command {
    }

    public record StopCanary(ActorRef<Reply> replyTo) implements Command {
    }

    /** Moves the promoted pointer back to the previously promoted version. */
    public record Rollback(ActorRef<Reply> replyTo) implements Command {
    }

    public record Retire(int version, ActorRef<Reply> replyTo) implements Command {
    }

    /**
     * Deletes the adapter: every version's blob is purged and evicted from every engine, the name
     * leaves the catalog, and a tombstone remains; the name can then be used for a new adapter.
     */
    public record Delete(ActorRef<Reply> replyTo) implements Command {
    }

    public record Get(ActorRef<Reply> replyTo) implements Command {
    }

    /**
     * A GPU node quarantined {@code version} (stored as {@code hash}) because it turned a request's
     * logits non-finite: the version becomes FAILED with {@code reason} and leaves the catalog (the
     * promoted or canary pointer to it is cleared), so no node is asked to serve it again.
     */
    public record MarkFailed(int version, ContentHash hash, String reason, ActorRef<Reply> replyTo) implements Command {
        public MarkFailed {
            Objects.requireNonNull(hash, "hash");
            Objects.requireNonNull(reason, "reason");
        }
    }

    /**
     * The answer to every command: {@code ok} false with {@code error} and {@code message} saying why
     * (the router maps {@code error} to an HTTP status), and the adapter's view after the command.
     */
    public record Reply(boolean ok, Error error, String message, AdapterView view) implements RemoteMessage {
        public static Reply ok(AdapterView view) {
            return new Reply(true, null, "", view);
        }

        public static Reply refused(Error error, String message, AdapterView view) {
            return new Reply(false, error, message, view);
        }
    }

    /** Why a command was refused. */
    public enum Error {
        /** No such adapter or version (404). */
        NOT_FOUND,
        /** The command does not apply in the current state (409). */
        CONFLICT,
        /** A bad argument (400). */
        INVALID,
        /** Over the tenant's storage quota (413). */
        QUOTA_EXCEEDED,
        /** Validation refused the version (422). */
        REJECTED,
        /** A dependency (catalog, GPU node, blob store) did not answer (503). */
        UNAVAILABLE
    }

    /** What happened to a version, when. */
    public record HistoryEntry(long epochMillis, VersionState state, String note) implements RemoteMessage {
    }

    public record VersionView(int version, ContentHash hash, long bytes, VersionState state, String reason, String baseIdentity,
            int maxRank, String source, long createdEpochMillis, List<HistoryEntry> history) implements RemoteMessage {
        public VersionView {
            history = List.copyOf(history);
        }
    }

    /**
     * An adapter as its owner sees it; {@code exists} false for a name never used or deleted
     * (then {@code versions} is empty).
     */
    public record AdapterView(TenantId tenant, String name, boolean exists, Integer promotedVersion, Integer canaryVersion,
            double canaryShare, List<VersionView> versions) implements RemoteMessage {
        public AdapterView {
            versions = List.copyOf(versions);
        }
    }
}
