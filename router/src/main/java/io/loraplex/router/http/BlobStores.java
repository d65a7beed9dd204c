package io.loraplex.router.http;

import io.loraplex.cluster.blob.BlobProtocol;
import java.time.Duration;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.receptionist.Receptionist;

/**
 * The blob stores the receptionist knows ({@link BlobProtocol#SERVICE_KEY}), this JVM's first: an
 * upload goes to one of them from its first message to its last.
 */
final class BlobStores {

    private final ActorSystem<?> system;
    private volatile Set<ActorRef<BlobProtocol.Command>> known = Set.of();

    private BlobStores(ActorSystem<?> system) {
        this.system = system;
    }

    static BlobStores start(ActorSystem<?> system) {
        BlobStores stores = new BlobStores(system);
        system.systemActorOf(stores.subscriber(), "loraplex-blob-stores", Props.empty());
        return stores;
    }

    /** A blob store, or a 503 when none is registered (asking the receptionist once before giving up). */
    CompletionStage<ActorRef<BlobProtocol.Command>> pick(Duration timeout) {
        Optional<ActorRef<BlobProtocol.Command>> now = choose(known);
        if (now.isPresent()) {
            return CompletableFuture.completedFuture(now.get());
        }
        return AskPattern.<Receptionist.Command, Receptionist.Listing>ask(system.receptionist(),
                        replyTo -> Receptionist.find(BlobProtocol.SERVICE_KEY, replyTo), timeout, system.scheduler())
                .handle((listing, failure) -> {
                    Optional<ActorRef<BlobProtocol.Command>> found = failure == null
                            ? choose(listing.getServiceInstances(BlobProtocol.SERVICE_KEY)) : Optional.empty();
                    return found.orElseThrow(() -> ApiError.unavailable("The blob store is not available; retry the upload later.")
                            .toException());
                });
    }

    private static Optional<ActorRef<BlobProtocol.Command>> choose(Set<ActorRef<BlobProtocol.Command>> stores) {
        return stores.stream().filter(ref -> ref.path().address().hasLocalScope()).findFirst()
                .or(() -> stores.stream().findFirst());
    }

    private record Listed(Receptionist.Listing listing) implements NoSerializationVerificationNeeded {
    }

    private Behavior<Listed> subscriber() {
        return Behaviors.setup(ctx -> {
            ActorRef<Receptionist.Listing> adapter = ctx.messageAdapter(Receptionist.Listing.class, Listed::new);
            ctx.getSystem().receptionist().tell(Receptionist.subscribe(BlobProtocol.SERVICE_KEY, adapter));
            return Behaviors.receive(Listed.class)
                    .onMessage(Listed.class, listed -> {
                        known = Set.copyOf(listed.listing().getServiceInstances(BlobProtocol.SERVICE_KEY));
                        return Behaviors.same();
                    })
                    .build();
        });
    }
}
