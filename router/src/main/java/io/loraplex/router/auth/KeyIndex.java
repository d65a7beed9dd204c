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

    private volatile Map<String, String> view = Map.of();

    private KeyIndex() {
    }

    /** Subscribes to the index; the view fills as Distributed Data delivers it. */
    public static KeyIndex start(ActorSystem<?> system) {
        KeyIndex index = new KeyIndex();
        system.systemActorOf(index.subscriber(), "loraplex-key-index", Props.empty());
        return index;
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
