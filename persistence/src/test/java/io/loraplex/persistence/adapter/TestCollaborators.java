package io.loraplex.persistence.adapter;

import io.loraplex.cluster.ContentHash;
import io.loraplex.cluster.blob.BlobProtocol;
import io.loraplex.cluster.node.GpuNodeProtocol;
import io.loraplex.cluster.node.GpuNodeProtocol.Validation;
import io.loraplex.cluster.tenant.TenantProtocol;
import io.loraplex.cluster.tenant.TenantProtocol.Ack;
import java.util.Map;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * Stand-ins for what the Adapter entity talks to: a Tenant entity that keeps storage reservations
 * against a quota and acknowledges the rest (or stays silent, or leaves catalog changes to the
 * test), a GPU node that answers validations as each hash's verdict says, and a blob store. Each
 * records what it received; tests use their own tenant ids and hashes, so records do not mix.
 */
final class TestCollaborators {

    private TestCollaborators() {
    }

    // ---- the Tenant entity

    /** How one tenant answers; {@code seen} gets every command it receives. */
    static final class TenantScript {
        final ActorRef<TenantProtocol.Command> seen;
        volatile long quota = Long.MAX_VALUE;
        /** Answers nothing at all. */
        volatile boolean silent;
        /** Leaves UpdateCatalog unanswered: the test acknowledges it from {@code seen}. */
        volatile boolean manualCatalog;
        final Map<String, Long> reserved = new ConcurrentHashMap<>();
        /** key to the adapter names holding it, as the real entity keeps them */
        final Map<String, Set<String>> holders = new ConcurrentHashMap<>();
        /** Leaves LetGoStorage unanswered: a clean-up that cannot finish (a crash, a tenant down). */
        volatile boolean silentOnLetGo;

        TenantScript(ActorRef<TenantProtocol.Command> seen) {
            this.seen = seen;
        }
    }

    static final Map<String, TenantScript> TENANTS = new ConcurrentHashMap<>();

    static Behavior<TenantProtocol.Command> tenant(String id) {
        return Behaviors.receiveMessage(command -> {
            TenantScript script = TENANTS.get(id);
            if (script == null) {
                return Behaviors.same();
            }
            script.seen.tell(command);
            if (script.silent) {
                return Behaviors.same();
            }
            switch (command) {
                case TenantProtocol.ReserveStorage c -> {
                    long used = script.reserved.values().stream().mapToLong(Long::longValue).sum();
                    if (script.reserved.containsKey(c.key())) {
                        if (c.holder() != null) {
                            script.holders.computeIfAbsent(c.key(), k -> ConcurrentHashMap.newKeySet()).add(c.holder());
                        }
                        c.replyTo().tell(Ack.done());
                    } else if (c.bytes() > script.quota - used) {
                        c.replyTo().tell(new Ack(false, "storage quota exceeded for tenant " + id + ": used " + used
                                + " bytes, requested " + c.bytes() + " bytes, quota " + script.quota + " bytes"));
                    } else {
                        script.reserved.put(c.key(), c.bytes());
                        if (c.holder() != null) {
                            script.holders.computeIfAbsent(c.key(), k -> ConcurrentHashMap.newKeySet()).add(c.holder());
                        }
                        c.replyTo().tell(Ack.done());
                    }
                }
                case TenantProtocol.ReleaseStorage c -> {
                    script.reserved.remove(c.key());
                    c.replyTo().tell(Ack.done());
                }
                case TenantProtocol.LetGoStorage c -> {
                    if (!script.silentOnLetGo) {
                        Set<String> names = script.holders.getOrDefault(c.key(), Set.of());
                        names.remove(c.holder());
                        if (names.isEmpty()) {
                            script.holders.remove(c.key());
                            script.reserved.remove(c.key());
                        }
                        c.replyTo().tell(new TenantProtocol.StorageLeft(true, c.key(), names.size()));
                    }
                }
                case TenantProtocol.UpdateCatalog c -> {
                    if (!script.manualCatalog) {
                        c.replyTo().tell(Ack.done());
                    }
                }
                case TenantProtocol.TrackAdapterName c -> c.replyTo().tell(Ack.done());
                default -> {
                }
            }
            return Behaviors.same();
        });
    }

    // ---- GPU nodes

    /** What the GPU node answers for a hash: valid (the default), invalid with a reason, or nothing. */
    record Verdict(boolean answer, boolean valid, String reason) {
        static final Verdict VALID = new Verdict(true, true, "");
        static final Verdict SILENT = new Verdict(false, false, "");

        static Verdict invalid(String reason) {
            return new Verdict(true, false, reason);
        }
    }

    static final String BASE = "base-sha256-test";
    static final int MAX_RANK = 16;
    static final Map<ContentHash, Verdict> VERDICTS = new ConcurrentHashMap<>();
    static final Queue<GpuNodeProtocol.Command> NODE_RECEIVED = new ConcurrentLinkedQueue<>();

    static Behavior<GpuNodeProtocol.Command> gpuNode() {
        return Behaviors.receiveMessage(command -> {
            NODE_RECEIVED.add(command);
            switch (command) {
                case GpuNodeProtocol.ValidateAdapter c -> {
                    Verdict verdict = VERDICTS.getOrDefault(c.adapter().contentHash(), Verdict.VALID);
                    if (verdict.answer()) {
                        c.replyTo().tell(verdict.valid() ? new Validation(c.adapter(), true, "", BASE, MAX_RANK, 1234)
                                : new Validation(c.adapter(), false, verdict.reason(), BASE, 0, 0));
                    }
                }
                case GpuNodeProtocol.EvictAdapter c -> c.replyTo().tell(GpuNodeProtocol.Ack.done());
                case GpuNodeProtocol.DropAdapter c -> c.replyTo().tell(GpuNodeProtocol.Ack.done());
                default -> {
                }
            }
            return Behaviors.same();
        });
    }

    /**
     * A GPU node of another base: it validates every adapter against {@code baseIdentity} and
     * records what it received in {@code received}.
     */
    static Behavior<GpuNodeProtocol.Command> gpuNode(String baseIdentity, Queue<GpuNodeProtocol.Command> received) {
        return Behaviors.receiveMessage(command -> {
            received.add(command);
            if (command instanceof GpuNodeProtocol.ValidateAdapter c) {
                c.replyTo().tell(new Validation(c.adapter(), true, "", baseIdentity, MAX_RANK, 1234));
            }
            return Behaviors.same();
        });
    }

    // ---- the blob store

    static final Queue<BlobProtocol.DeleteBlob> BLOBS_DELETED = new ConcurrentLinkedQueue<>();
    /** What a store registered only as a source (a GPU node's copies) was asked to delete. */
    static final Queue<BlobProtocol.DeleteBlob> NODE_BLOBS_DELETED = new ConcurrentLinkedQueue<>();

    static Behavior<BlobProtocol.Command> blobStore() {
        return blobStore(BLOBS_DELETED);
    }

    static Behavior<BlobProtocol.Command> blobStore(Queue<BlobProtocol.DeleteBlob> deleted) {
        return Behaviors.receiveMessage(command -> {
            if (command instanceof BlobProtocol.DeleteBlob delete) {
                deleted.add(delete);
                delete.replyTo().tell(new BlobProtocol.Deleted(delete.hash(), true));
            }
            return Behaviors.same();
        });
    }
}
