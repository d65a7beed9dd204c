package io.loraplex.router.http;

import io.loraplex.cluster.TenantId;
import io.loraplex.cluster.tenant.TenantProtocol;
import io.loraplex.router.auth.KeyIndex;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.http.javadsl.model.HttpRequest;

/** Who sent a request: the hash of its API key and the tenant the key index maps it to. */
record Caller(String keyHash, TenantId tenant) {

    /** The caller of {@code request}, or a 401 {@code invalid_api_key} (no key, or a key the index does not know). */
    static CompletionStage<Caller> authenticate(HttpRequest request, KeyIndex keys) {
        Optional<String> header = request.getHeader("Authorization").map(h -> h.value());
        Optional<String> key = KeyIndex.bearerKey(header);
        if (key.isEmpty()) {
            return CompletableFuture.failedFuture(ApiError.invalidApiKey(header.isEmpty()
                    ? "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer "
                            + "auth (i.e. Authorization: Bearer YOUR_KEY)."
                    : "The Authorization header must read 'Bearer YOUR_KEY'.").toException());
        }
        String hash = TenantProtocol.hashKey(key.get());
        return keys.resolve(hash).thenApply(tenant -> {
            if (tenant.isEmpty()) {
                throw ApiError.invalidApiKey("Incorrect API key provided: " + mask(key.get()) + ".").toException();
            }
            return new Caller(hash, tenant.get());
        });
    }

    /** Enough of a key to recognise it in an error, never enough to use it. */
    static String mask(String key) {
        return key.length() < 12 ? "***" : key.substring(0, 3) + "***" + key.substring(key.length() - 4);
    }
}
