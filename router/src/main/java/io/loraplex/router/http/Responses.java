package io.loraplex.router.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import org.apache.pekko.http.javadsl.model.ContentType;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.MediaTypes;
import org.apache.pekko.http.javadsl.model.headers.RawHeader;
import org.apache.pekko.http.scaladsl.model.EntityStreamSizeException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** HTTP responses of the API: JSON bodies and OpenAI error objects. */
final class Responses {

    private static final Logger log = LoggerFactory.getLogger(Responses.class);

    static final ContentType EVENT_STREAM = MediaTypes.TEXT_EVENT_STREAM.toContentType();

    private Responses() {
    }

    static HttpResponse json(int status, JsonNode body) {
        return HttpResponse.create().withStatus(status).withEntity(ContentTypes.APPLICATION_JSON, Json.bytes(body));
    }

    /** {@code {"error": {"message", "type", "param", "code"}}}, with {@code Retry-After} when the error has one. */
    static HttpResponse error(ApiError e) {
        ObjectNode body = Json.object();
        ObjectNode error = body.putObject("error");
        error.put("message", e.message());
        error.put("type", e.type());
        error.put("param", e.param());
        error.put("code", e.code());
        HttpResponse response = json(e.status(), body);
        if (e.retryAfterSeconds() > 0) {
            response = response.addHeader(RawHeader.create("Retry-After", Long.toString(e.retryAfterSeconds())));
        }
        return response;
    }

    /**
     * The error a failed stage carries. A body cut at its size limit is a 413 naming the limit;
     * anything else not an {@link ApiException} is a 500 whose detail (exception class, paths) is
     * logged, never shown to the client.
     */
    static ApiError errorOf(Throwable t) {
        Throwable cause = unwrap(t);
        if (cause instanceof ApiException api) {
            return api.error();
        }
        for (Throwable c = cause; c != null; c = c.getCause()) {
            if (c instanceof EntityStreamSizeException size) {
                return ApiError.tooLarge(size.limit());
            }
        }
        log.error("request failed with an unexpected error", cause);
        return ApiError.internal("The server had an error while processing your request.");
    }

    static Throwable unwrap(Throwable t) {
        while ((t instanceof CompletionException || t instanceof ExecutionException) && t.getCause() != null) {
            t = t.getCause();
        }
        return t;
    }
}
