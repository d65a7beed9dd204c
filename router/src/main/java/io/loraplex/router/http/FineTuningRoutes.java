package io.loraplex.router.http;

import static org.apache.pekko.http.javadsl.server.PathMatchers.segment;

import io.loraplex.router.FineTuningSettings;
import io.loraplex.router.RouterSettings;
import io.loraplex.router.auth.KeyIndex;
import io.loraplex.router.placement.Placement;
import java.util.function.Supplier;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.http.javadsl.model.headers.RawHeader;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.Route;

/**
 * The fine-tuning API: {@code /v1/files} and {@code /v1/fine_tuning/jobs}, OpenAI's shapes, scoped
 * to the caller's tenant. Paths it does not know fall through to the routes after it (compose with
 * {@link Route#orElse}); a known path with a wrong method answers 405.
 */
public final class FineTuningRoutes extends AllDirectives {

    private final FilesFlow files;
    private final FineTuningJobsFlow jobs;

    public FineTuningRoutes(ActorSystem<?> system, RouterSettings settings, KeyIndex keys, Placement placement) {
        FineTuneCalls calls = new FineTuneCalls(system, FineTuningSettings.create(system.settings().config()), keys);
        this.files = new FilesFlow(calls, placement);
        this.jobs = new FineTuningJobsFlow(calls, settings, placement);
    }

    public Route route() {
        return pathPrefix("v1", () -> concat(
                path(segment("files"), () -> methods("GET, POST",
                        () -> get(() -> handle(files::list)),
                        () -> post(() -> handle(files::upload)))),
                path(segment("files").slash(segment()), id -> methods("GET, DELETE",
                        () -> get(() -> handle(r -> files.get(r, id))),
                        () -> delete(() -> handle(r -> files.delete(r, id))))),
                path(segment("fine_tuning").slash("jobs"), () -> methods("GET, POST",
                        () -> get(() -> handle(jobs::list)),
                        () -> post(() -> handle(jobs::create)))),
                path(segment("fine_tuning").slash("jobs").slash(segment()), id -> methods("GET",
                        () -> get(() -> handle(r -> jobs.get(r, id))))),
                path(segment("fine_tuning").slash("jobs").slash(segment()).slash("events"), id -> methods("GET",
                        () -> get(() -> handle(r -> jobs.events(r, id))))),
                path(segment("fine_tuning").slash("jobs").slash(segment()).slash("cancel"), id -> methods("POST",
                        () -> post(() -> handle(r -> jobs.cancel(r, id)))))));
    }

    /** The routes of one path, then 405 naming the methods it allows. */
    @SafeVarargs
    private Route methods(String allowed, Supplier<Route>... routes) {
        Route[] all = new Route[routes.length + 1];
        for (int i = 0; i < routes.length; i++) {
            all[i] = routes[i].get();
        }
        all[routes.length] = extractRequest(r -> complete(Responses.error(ApiError.methodNotAllowed(r.method().name(),
                r.getUri().path())).addHeader(RawHeader.create("Allow", allowed))));
        return concat(all[0], java.util.Arrays.copyOfRange(all, 1, all.length));
    }
}
