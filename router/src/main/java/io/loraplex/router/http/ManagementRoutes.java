package io.loraplex.router.http;

import static org.apache.pekko.http.javadsl.server.PathMatchers.segment;

import io.loraplex.router.RouterSettings;
import io.loraplex.router.auth.KeyIndex;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.Route;

/**
 * The adapter lifecycle and admin routes: {@code /v1/adapters...} and {@code /v1/usage} for a
 * tenant's {@code manage} key, {@code /v1/admin/...} for the admin key. Each route only translates
 * HTTP into the flows' entity asks. {@code POST /v1/adapters} alone may exceed the body limit, up
 * to {@code max-adapter-upload}, and streams.
 */
public final class ManagementRoutes extends AllDirectives {

    private final RouterSettings settings;
    private final AdapterUpload upload;
    private final AdapterFlow adapters;
    private final AdminFlow admin;

    /** @param baseModels the ids of the base models the fleet serves now: no adapter may take one as its name */
    public ManagementRoutes(ActorSystem<?> system, RouterSettings settings, KeyIndex keys,
            java.util.function.Supplier<java.util.Set<String>> baseModels) {
        Entities entities = new Entities(system, keys, settings.manageTimeout());
        this.settings = settings;
        this.upload = new AdapterUpload(system, settings, entities, BlobStores.start(system), baseModels);
        this.adapters = new AdapterFlow(system, settings, entities);
        this.admin = new AdminFlow(system, settings, entities);
    }

    public Route route() {
        return concat(
                pathPrefix(segment("v1").slash("adapters"), this::adapterRoutes),
                path(segment("v1").slash("usage"), () -> get(() -> extractRequest(r -> completeWithFuture(adapters.usage(r))))),
                pathPrefix(segment("v1").slash("admin"), this::adminRoutes));
    }

    private Route adapterRoutes() {
        return concat(
                pathEndOrSingleSlash(() -> concat(
                        post(() -> withSizeLimit(settings.maxAdapterUploadBytes(), () -> withRequestTimeout(settings.requestTimeout(),
                                request -> Responses.error(ApiError.unavailable("The upload took longer than "
                                        + settings.requestTimeout().toSeconds() + " s")),
                                () -> extractRequest(r -> completeWithFuture(upload.handle(r)))))),
                        get(() -> extractRequest(r -> completeWithFuture(adapters.list(r)))))),
                path(segment(), name -> concat(
                        get(() -> extractRequest(r -> completeWithFuture(adapters.get(r, name)))),
                        delete(() -> extractRequest(r -> completeWithFuture(adapters.delete(r, name)))))),
                path(segment().slash("promote"), name -> post(() -> extractRequest(r -> completeWithFuture(adapters.promote(r, name))))),
                path(segment().slash("canary"), name -> concat(
                        post(() -> extractRequest(r -> completeWithFuture(adapters.canary(r, name)))),
                        delete(() -> extractRequest(r -> completeWithFuture(adapters.stopCanary(r, name)))))),
                path(segment().slash("rollback"), name -> post(() -> extractRequest(r -> completeWithFuture(adapters.rollback(r, name))))));
    }

    private Route adminRoutes() {
        return concat(
                path("tenants", () -> concat(
                        post(() -> extractRequest(r -> completeWithFuture(admin.admin(r, admin::setup)))),
                        get(() -> extractRequest(r -> completeWithFuture(admin.admin(r, admin::listTenants)))))),
                path(segment("tenants").slash(segment()), id -> get(() -> extractRequest(
                        r -> completeWithFuture(admin.admin(r, req -> admin.getTenant(id)))))),
                path(segment("tenants").slash(segment()).slash("keys"), id -> concat(
                        post(() -> extractRequest(r -> completeWithFuture(admin.admin(r, req -> admin.createKey(req, id))))),
                        get(() -> extractRequest(r -> completeWithFuture(admin.admin(r, req -> admin.listKeys(id))))))),
                path(segment("tenants").slash(segment()).slash("keys").slash(segment()), (id, keyId) -> delete(() -> extractRequest(
                        r -> completeWithFuture(admin.admin(r, req -> admin.revokeKey(id, keyId)))))),
                path(segment("tenants").slash(segment()).slash("usage"), id -> get(() -> extractRequest(
                        r -> completeWithFuture(admin.admin(r, req -> admin.usage(req, id)))))));
    }
}
