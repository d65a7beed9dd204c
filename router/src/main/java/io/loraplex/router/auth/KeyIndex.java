package io.loraplex.router.auth;

import io.loraplex.cluster.TenantId;
import io.loraplex.cluster.tenant.TenantProtocol;
import java.util.Map;
import java.util.Optional;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.ddata.LWWMap;
import org.apache.pekko.cluster.ddata.typed.javadsl.DistributedData;
import org.apache.pekko.cluster.ddata.typed.javadsl.Replicator;

/**
 * This router's view of {@link TenantProtocol#KEY_INDEX}: API key hash → tenant. The Tenant entity
 * writes the index; a subscriber actor replaces the local snapshot on every change, so lookups on
 * the request path are a map read, never a message.
 */
public final class KeyIndex {

    private static final java.time.Duration READ_TIMEOUT = java.time.Duration.ofSeconds(3);

    private volatile Map<String, String> view = Map.of();
    private final ActorSystem<?> system;

    private KeyIndex(ActorSystem<?> system) {
        this.system = system;
    }

    /** Subscribes to the index; the view fills as Distributed Data delivers it. */
    public static KeyIndex start(ActorSystem<?> system) {
        KeyIndex index = new KeyIndex(system);
        system.systemActorOf(index.subscriber(), "loraplex-key-index", Props.empty());
        return index;
    }

    /**
     * The tenant of a key: from the local view, or, when the view does not know it yet (a key added
     * moments ago: subscribers hear of changes only every few hundred milliseconds), from a read of
     * the local replica. Empty for unknown or revoked keys.
     */
    public java.util.concurrent.CompletionStage<Optional<TenantId>> resolve(String keyHash) {
        Optional<TenantId> known = tenantOf(keyHash);
        if (known.isPresent()) {
            return java.util.concurrent.CompletableFuture.completedFuture(known);
        }
        var replicator = org.apache.pekko.cluster.ddata.typed.javadsl.DistributedData.get(system).replicator();
        return org.apache.pekko.actor.typed.javadsl.AskPattern.<Replicator.Command, Replicator.GetResponse<LWWMap<String, String>>>ask(
                        replicator, replyTo -> new Replicator.Get<>(TenantProtocol.KEY_INDEX, Replicator.readLocal(), replyTo),
                        READ_TIMEOUT, system.scheduler())
                .thenApply(response -> {
                    if (response instanceof Replicator.GetSuccess<LWWMap<String, String>> found) {
                        String tenant = found.get(TenantProtocol.KEY_INDEX).getEntries().get(keyHash);
                        if (tenant != null) {
                            try {
                                return Optional.of(new TenantId(tenant));
                            } catch (IllegalArgumentException e) {
                                return Optional.<TenantId>empty();
                            }
                        }
                    }
                    return Optional.<TenantId>empty();
                });
    }

    /** The tenant of a key, by the key's {@link TenantProtocol#hashKey hash}; empty for unknown or revoked keys. */
    public Optional<TenantId> tenantOf(String keyHash) {
        String tenant = view.get(keyHash);
        if (tenant == null) {
            return Optional.empty();
        }
        try {
            return Optional.of(new TenantId(tenant));
        } catch (IllegalArgumentException e) {
            return Optional.empty(); // a malformed entry authorizes nothing
        }
    }

    /** Keys known here. */
    public int size() {
        return view.size();
    }

    /** The subscriber's only message: the replicator's news, adapted. */
    private record Changed(Replicator.SubscribeResponse<LWWMap<String, String>> response) implements NoSerializationVerificationNeeded {
    }

    private Behavior<Changed> subscriber() {
        return DistributedData.<Changed, LWWMap<String, String>>withReplicatorMessageAdapter(replicator -> {
            replicator.subscribe(TenantProtocol.KEY_INDEX, Changed::new);
            return Behaviors.receive(Changed.class)
                    .onMessage(Changed.class, changed -> {
                        if (changed.response() instanceof Replicator.Changed<LWWMap<String, String>> c) {
                            view = Map.copyOf(c.get(TenantProtocol.KEY_INDEX).getEntries());
                        } else if (changed.response() instanceof Replicator.Deleted<LWWMap<String, String>>) {
                            view = Map.of();
                        }
                        return Behaviors.same();
                    })
                    .build();
        });
    }

    /** The key of an {@code Authorization: Bearer <key>} header value; empty when absent or not a bearer token. */
    public static Optional<String> bearerKey(Optional<String> authorization) {
        if (authorization.isEmpty()) {
            return Optional.empty();
        }
        String value = authorization.get().strip();
        if (value.length() < 7 || !value.regionMatches(true, 0, "Bearer ", 0, 7)) {
            return Optional.empty();
        }
        String key = value.substring(7).strip();
        return key.isEmpty() ? Optional.empty() : Optional.of(key);
    }
}
