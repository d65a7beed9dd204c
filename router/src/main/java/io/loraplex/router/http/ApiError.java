package io.loraplex.router.http;

import java.util.Objects;

/**
 * One error as OpenAI writes it: {@code {"error": {"message", "type", "param", "code"}}} with its HTTP
 * status. {@code retryAfterSeconds} above 0 adds a {@code Retry-After} header (429, and 503 without a ready node).
 */
public record ApiError(int status, String message, String type, String param, String code, long retryAfterSeconds) {

    public static final String INVALID_REQUEST = "invalid_request_error";
    public static final String SERVER_ERROR = "server_error";

    public ApiError {
        Objects.requireNonNull(message, "message");
        Objects.requireNonNull(type, "type");
    }

    /** 400 about one field. */
    public static ApiError invalid(String param, String message) {
        return new ApiError(400, message, INVALID_REQUEST, param, "invalid_value", 0);
    }

    /** 400: a field of the wrong JSON type. */
    public static ApiError wrongType(String param, String expected) {
        return new ApiError(400, "'" + param + "' must be " + expected, INVALID_REQUEST, param, "invalid_type", 0);
    }

    /** 400: a field OpenAI has that this server does not implement. */
    public static ApiError unsupported(String param) {
        return new ApiError(400, "'" + param + "' is not supported by this server", INVALID_REQUEST, param,
                "unsupported_parameter", 0);
    }

    /** 400: a field OpenAI does not have either. */
    public static ApiError unknown(String param) {
        return new ApiError(400, "Unrecognized request argument supplied: " + param, INVALID_REQUEST, param,
                "unknown_parameter", 0);
    }

    public static ApiError malformedJson(String problem) {
        return new ApiError(400, "We could not parse the JSON body of your request: " + problem, INVALID_REQUEST, null,
                "invalid_json", 0);
    }

    /** 404 for a model that does not exist and for one the caller may not see: the two read the same. */
    public static ApiError modelNotFound(String model) {
        return new ApiError(404, "The model `" + model + "` does not exist or you do not have access to it.", INVALID_REQUEST,
                "model", "model_not_found", 0);
    }

    /** 404 for an adapter that does not exist and for another tenant's: the two read the same. */
    public static ApiError adapterNotFound(String name) {
        return new ApiError(404, "The adapter `" + name + "` does not exist or you do not have access to it.", INVALID_REQUEST,
                "name", "adapter_not_found", 0);
    }

    /** 404 for a tenant the admin API does not know. */
    public static ApiError tenantNotFound(String id) {
        return new ApiError(404, "The tenant `" + id + "` does not exist.", INVALID_REQUEST, "id", "tenant_not_found", 0);
    }

    /** 409: the command does not apply in the resource's current state. */
    public static ApiError conflict(String message) {
        return new ApiError(409, message, INVALID_REQUEST, null, "conflict", 0);
    }

    /** 413: the tenant's storage quota would be exceeded. */
    public static ApiError quotaExceeded(String message) {
        return new ApiError(413, message, INVALID_REQUEST, null, "quota_exceeded", 0);
    }

    /** 422: validation refused an adapter version; the message says why. */
    public static ApiError adapterRejected(String message) {
        return new ApiError(422, message, INVALID_REQUEST, null, "adapter_rejected", 0);
    }

    /**
     * 422: the adapter version turned the request's logits non-finite on its GPU node and is
     * quarantined; the message names the adapter. The client's adapter is at fault, not the server.
     */
    public static ApiError adapterQuarantined(String message) {
        return new ApiError(422, message, INVALID_REQUEST, "model", "adapter_quarantined", 0);
    }

    /** What a generation's failure event answers: the adapter's fault (422) or the server's (500). */
    public static ApiError generationFailed(io.loraplex.cluster.node.GpuNodeProtocol.FailureCode code, String message) {
        return switch (code) {
            case ADAPTER_QUARANTINED -> adapterQuarantined(message);
            case INTERNAL -> new ApiError(500, "generation failed: " + message, SERVER_ERROR, null, "generation_failed", 0);
        };
    }

    public static ApiError invalidApiKey(String message) {
        return new ApiError(401, message, INVALID_REQUEST, null, "invalid_api_key", 0);
    }

    public static ApiError forbidden(String message) {
        return new ApiError(403, message, "permission_error", null, "insufficient_permissions", 0);
    }

    public static ApiError rateLimited(String message, long retryAfterMillis) {
        long seconds = Math.max(1, (retryAfterMillis + 999) / 1000);
        return new ApiError(429, message, "rate_limit_error", null, "rate_limit_exceeded", seconds);
    }

    public static ApiError tooLarge(long limitBytes) {
        return new ApiError(413, "The request body exceeds the limit of " + limitBytes + " bytes", INVALID_REQUEST, null,
                "request_too_large", 0);
    }

    /** 503: no capacity (no ready node, a node overloaded, a role not answering). */
    public static ApiError unavailable(String message) {
        return new ApiError(503, message, SERVER_ERROR, null, "service_unavailable", 0);
    }

    /**
     * 503: no GPU node is ready for the request; {@code Retry-After} says when one may be (whole seconds, at least 1),
     * so clients back off instead of retrying at once.
     */
    public static ApiError noNodeReady(String message, java.time.Duration retryAfter) {
        return new ApiError(503, message, SERVER_ERROR, null, "service_unavailable",
                Math.max(1, (retryAfter.toMillis() + 999) / 1000));
    }

    public static ApiError internal(String message) {
        return new ApiError(500, message, SERVER_ERROR, null, "internal_error", 0);
    }

    public static ApiError notFoundPath(String method, String path) {
        return new ApiError(404, "Invalid URL (" + method + " " + path + ")", INVALID_REQUEST, null, "unknown_url", 0);
    }

    public static ApiError methodNotAllowed(String method, String path) {
        return new ApiError(405, "Method " + method + " is not allowed for " + path, INVALID_REQUEST, null,
                "method_not_allowed", 0);
    }

    public ApiException toException() {
        return new ApiException(this);
    }
}
