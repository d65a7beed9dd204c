package io.loraplex.router;

import com.typesafe.config.Config;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * The router's settings, from {@code loraplex.router} (defaults in this module's {@code reference.conf}).
 *
 * @param maxBodyBytes                 request bodies above this get 413
 * @param completionsDefaultMaxTokens  max_tokens of /v1/completions when the request omits it (OpenAI's 16)
 * @param requestTimeout               how long a non-streaming request may take; also the node's deadline for it
 * @param idleTimeout                  a connection with a request in flight and no bytes for this long closes; above
 *                                     requestTimeout
 * @param streamStartTimeout           a streaming body the HTTP layer has not taken by then is cancelled
 * @param sseKeepAlive                 an SSE comment after this much silence
 * @param shutdownHardDeadline         in-flight requests' grace on coordinated shutdown
 * @param statsInterval                how often each GPU node's stats are polled
 * @param maxAdapterSeries             adapters with their own metric label; the rest are "other"
 * @param baseModels                   base model ids known before any node reports (so a request for one while no
 *                                     node is up gets 503, not 404)
 * @param maxAdapterUploadBytes        the largest body of {@code POST /v1/adapters} (the only route allowed beyond
 *                                     maxBodyBytes); also the blob store's limit on the upload's files
 * @param adminKeySha256               SHA-256 (hex) of the admin key of {@code /v1/admin/...}; empty: admin API disabled
 * @param manageTimeout                how long the adapter and admin routes wait for a Tenant or Adapter entity
 * @param registerTimeout              how long an upload waits for its version to be validated (READY or REJECTED)
 * @param noNodeRetryAfter             the Retry-After of a 503 because no GPU node is ready
 * @param metricsKeySha256             SHA-256 (hex) of the bearer key {@code GET /metrics} on the API's port needs; empty:
 *                                     that port does not serve the metrics (they name tenants and adapters)
 * @param loadFactor                   bounded load: a node takes an adapter's request while its load stays under this
 *                                     factor times the mean (at least 1.0)
 * @param loadSlack                    ... plus this many requests (not negative)
 * @param maxAttempts                  how many nodes one generation may be tried on (below 1 counts as 1)
 * @param operationTimeout             how long a load, pin, evict or drain step waits for a node
 * @param drainTimeout                 a drained node leaves once its requests end; after this it stays without leaving
 * @param sessionIdleTimeout           a chat session unused this long is forgotten
 * @param maxSessions                  sessions remembered per router
 * @param maxPromptTokenIds            token ids one {@code /v1/completions} request may send as its prompts, all
 *                                     prompts together
 */
public record RouterSettings(
        String host,
        int port,
        long maxBodyBytes,
        int maxN,
        int completionsDefaultMaxTokens,
        Duration admitTimeout,
        Duration generateTimeout,
        Duration modelsTimeout,
        Duration requestTimeout,
        Duration idleTimeout,
        Duration streamStartTimeout,
        Duration sseKeepAlive,
        Duration shutdownHardDeadline,
        Duration statsInterval,
        Duration statsTimeout,
        Duration metricsTickInterval,
        int maxAdapterSeries,
        Duration metricsRefreshInterval,
        List<String> baseModels,
        long maxAdapterUploadBytes,
        String adminKeySha256,
        Duration manageTimeout,
        Duration registerTimeout,
        Duration noNodeRetryAfter,
        String metricsKeySha256,
        double loadFactor,
        int loadSlack,
        int maxAttempts,
        Duration operationTimeout,
        Duration drainTimeout,
        Duration sessionIdleTimeout,
        int maxSessions,
        int maxPromptTokenIds) {

    private static final Pattern SHA256_HEX = Pattern.compile("[0-9a-f]{64}");

    public RouterSettings {
        baseModels = List.copyOf(baseModels);
        adminKeySha256 = adminKeySha256.strip().toLowerCase(Locale.ROOT);
        if (!adminKeySha256.isEmpty() && !SHA256_HEX.matcher(adminKeySha256).matches()) {
            throw new IllegalArgumentException("loraplex.router.admin-key-sha256 must be empty (admin API disabled) or the "
                    + "64 hex digits of the admin key's SHA-256");
        }
        metricsKeySha256 = metricsKeySha256.strip().toLowerCase(Locale.ROOT);
        if (!metricsKeySha256.isEmpty() && !SHA256_HEX.matcher(metricsKeySha256).matches()) {
            throw new IllegalArgumentException("loraplex.router.metrics.key-sha256 must be empty (no /metrics on the API's port) or "
                    + "the 64 hex digits of the metrics key's SHA-256");
        }
        if (maxAdapterUploadBytes < 1024) {
            throw new IllegalArgumentException("loraplex.router.max-adapter-upload must be at least 1 KiB, got " + maxAdapterUploadBytes);
        }
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("loraplex.router.port must be 0-65535, got " + port);
        }
        if (maxBodyBytes < 1024) {
            throw new IllegalArgumentException("loraplex.router.max-body-bytes must be at least 1 KiB, got " + maxBodyBytes);
        }
        if (maxN < 1 || completionsDefaultMaxTokens < 1 || maxAdapterSeries < 0) {
            throw new IllegalArgumentException("loraplex.router: max-n and completions-default-max-tokens must be positive, "
                    + "metrics.max-adapter-series not negative");
        }
        if (idleTimeout.compareTo(requestTimeout) <= 0) {
            throw new IllegalArgumentException("loraplex.router.idle-timeout (" + idleTimeout + ") must exceed request-timeout ("
                    + requestTimeout + "), or long non-streaming requests lose their connection");
        }
        if (!(loadFactor >= 1.0)) {
            throw new IllegalArgumentException("loraplex.router.placement.load-factor must be at least 1.0, got " + loadFactor);
        }
        if (loadSlack < 0) {
            throw new IllegalArgumentException("loraplex.router.placement.load-slack must not be negative, got " + loadSlack);
        }
        maxAttempts = Math.max(1, maxAttempts);
        if (maxPromptTokenIds < 1) {
            throw new IllegalArgumentException("loraplex.router.max-prompt-token-ids must be positive, got " + maxPromptTokenIds);
        }
        if (maxSessions < 1) {
            throw new IllegalArgumentException("loraplex.router.sessions.max must be positive, got " + maxSessions);
        }
        for (Duration d : new Duration[] {admitTimeout, generateTimeout, modelsTimeout, requestTimeout, streamStartTimeout,
                sseKeepAlive, shutdownHardDeadline, statsInterval, statsTimeout, metricsTickInterval, metricsRefreshInterval,
                manageTimeout, registerTimeout, noNodeRetryAfter, operationTimeout, drainTimeout, sessionIdleTimeout}) {
            if (d.isNegative() || d.isZero()) {
                throw new IllegalArgumentException("loraplex.router: every duration must be positive, got " + d);
            }
        }
    }

    public static RouterSettings create(Config config) {
        Config c = config.getConfig("loraplex.router");
        return new RouterSettings(
                c.getString("host"),
                c.getInt("port"),
                c.getBytes("max-body-bytes"),
                c.getInt("max-n"),
                c.getInt("completions-default-max-tokens"),
                c.getDuration("admit-timeout"),
                c.getDuration("generate-timeout"),
                c.getDuration("models-timeout"),
                c.getDuration("request-timeout"),
                c.getDuration("idle-timeout"),
                c.getDuration("stream-start-timeout"),
                c.getDuration("sse-keep-alive"),
                c.getDuration("shutdown-hard-deadline"),
                c.getDuration("placement.stats-interval"),
                c.getDuration("placement.stats-timeout"),
                c.getDuration("metrics.tick-interval"),
                c.getInt("metrics.max-adapter-series"),
                c.getDuration("metrics.refresh-interval"),
                c.getStringList("base-models"),
                c.getBytes("max-adapter-upload"),
                c.getString("admin-key-sha256"),
                c.getDuration("manage-timeout"),
                c.getDuration("register-timeout"),
                c.getDuration("no-node-retry-after"),
                c.getString("metrics.key-sha256"),
                c.getDouble("placement.load-factor"),
                c.getInt("placement.load-slack"),
                c.getInt("placement.max-attempts"),
                c.getDuration("placement.operation-timeout"),
                c.getDuration("placement.drain-timeout"),
                c.getDuration("sessions.idle-timeout"),
                c.getInt("sessions.max"),
                c.getInt("max-prompt-token-ids"));
    }
}
