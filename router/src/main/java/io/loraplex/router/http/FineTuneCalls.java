package io.loraplex.router.http;

import io.loraplex.cluster.files.FileStoreProtocol;
import io.loraplex.cluster.finetune.FineTuneProtocol;
import io.loraplex.cluster.tenant.TenantProtocol;
import io.loraplex.router.FineTuningSettings;
import io.loraplex.router.auth.KeyIndex;
import java.util.concurrent.CompletionStage;
import java.util.function.Function;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.http.javadsl.model.HttpRequest;

/**
 * What the fine-tuning flows share: authorization (a key with the {@code manage} scope, as managing
 * adapters needs: a job creates adapter versions), the caller's own {@code FineTune} entity (so
 * another tenant's files and jobs are out of reach), the file store, and the mapping of refusals
 * and silence to OpenAI errors.
 */
final class FineTuneCalls {

    final ActorSystem<?> system;
    final FineTuningSettings settings;
    private final Entities entities;
    private final ClusterSharding sharding;

    FineTuneCalls(ActorSystem<?> system, FineTuningSettings settings, KeyIndex keys) {
        this.system = system;
        this.settings = settings;
        this.entities = new Entities(system, keys, settings.askTimeout());
        this.sharding = ClusterSharding.get(system);
    }

    /** The caller, when its key may manage its tenant's adapters (401 unknown key, 403 without the scope). */
    CompletionStage<Caller> caller(HttpRequest request) {
        return entities.authorize(request, TenantProtocol.Scope.MANAGE);
    }

    /** Asks the caller's FineTune entity; silence is a 503. */
    <R> CompletionStage<R> ask(Caller caller, Function<ActorRef<R>, FineTuneProtocol.Command> command) {
        return sharding.entityRefFor(FineTuneProtocol.TYPE_KEY, caller.tenant().value()).ask(command::apply, settings.askTimeout())
                .exceptionally(t -> {
                    throw ApiError.unavailable("The fine-tuning service did not answer; retry the request.").toException();
                });
    }

    /** Asks the caller's Tenant entity (its storage quota); silence is a 503. */
    <R> CompletionStage<R> tenant(Caller caller, Function<ActorRef<R>, TenantProtocol.Command> command) {
        return entities.tenant(caller.tenant(), command);
    }

    /** A file store registered with the receptionist, or a 503. */
    CompletionStage<ActorRef<FileStoreProtocol.Command>> fileStore() {
        return AskPattern.<Receptionist.Command, Receptionist.Listing>ask(system.receptionist(),
                        replyTo -> Receptionist.find(FileStoreProtocol.SERVICE_KEY, replyTo), settings.askTimeout(), system.scheduler())
                .thenApply(listing -> listing.getServiceInstances(FileStoreProtocol.SERVICE_KEY).stream().findAny()
                        .orElseThrow(() -> ApiError.unavailable("No file store is available; retry the request.").toException()));
    }

    <R> CompletionStage<R> askStore(ActorRef<FileStoreProtocol.Command> store,
            Function<ActorRef<R>, FileStoreProtocol.Command> command) {
        return AskPattern.<FileStoreProtocol.Command, R>ask(store, command::apply, settings.askTimeout(), system.scheduler())
                .exceptionally(t -> {
                    throw ApiError.unavailable("The file store did not answer; retry the request.").toException();
                });
    }

    /** The HTTP error of an entity's refusal; a missing (or another tenant's) id reads as OpenAI's 404. */
    static ApiError error(FineTuneProtocol.Error error, String param, String message) {
        return switch (error) {
            case NOT_FOUND -> new ApiError(404, message, ApiError.INVALID_REQUEST, param, null, 0);
            case INVALID -> ApiError.invalid(param, message);
            case CONFLICT -> new ApiError(409, message, ApiError.INVALID_REQUEST, param, "conflict", 0);
        };
    }
}
