package io.loraplex.simulations.fleet.replay;

import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Objects;

/**
 * The server a trace is replayed against: its base URL ({@code http://127.0.0.1:8080}), the admin key
 * that creates the trace's tenants and their keys, and the directory of the base model its GPU nodes
 * serve (its {@code config.json} shapes the generated adapters).
 */
public record ReplayTarget(URI url, String adminKey, Path baseModel) {

    public ReplayTarget {
        Objects.requireNonNull(url, "url");
        if (!"http".equals(url.getScheme()) && !"https".equals(url.getScheme())) {
            throw new IllegalArgumentException("url must be http or https, got '" + url + "'");
        }
        if (adminKey == null || adminKey.isBlank()) {
            throw new IllegalArgumentException("the admin key must not be blank");
        }
        if (baseModel == null || !Files.isRegularFile(baseModel.resolve("config.json"))) {
            throw new IllegalArgumentException("the base model directory must hold config.json, got '" + baseModel + "'");
        }
        String u = url.toString();
        url = u.endsWith("/") ? URI.create(u.substring(0, u.length() - 1)) : url;
    }

    URI resolve(String path) {
        return URI.create(url + path);
    }
}
