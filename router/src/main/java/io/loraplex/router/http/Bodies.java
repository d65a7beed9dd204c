package io.loraplex.router.http;

import java.time.Duration;
import java.util.OptionalLong;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.scaladsl.model.EntityStreamSizeException;
import org.apache.pekko.stream.Materializer;

/** Reads request bodies within the size limit. */
final class Bodies {

    private Bodies() {
    }

    /**
     * The whole body, or a 413 when it is (or turns out, for a chunked body, to be) larger than {@code maxBytes}. A body
     * declared too large is read and dropped before the 413 goes out (within the server's own content limit and
     * {@code timeout}): a client still writing it would otherwise see the connection reset instead of the answer.
     */
    static CompletionStage<byte[]> read(HttpRequest request, long maxBytes, Duration timeout, ActorSystem<?> system) {
        Materializer materializer = Materializer.matFromSystem(system);
        OptionalLong declared = request.entity().getContentLengthOption();
        if (declared.isPresent() && declared.getAsLong() > maxBytes) {
            return request.discardEntityBytes(materializer).completionStage().toCompletableFuture()
                    .orTimeout(timeout.toMillis(), TimeUnit.MILLISECONDS)
                    .<byte[]>handle((drained, failure) -> {
                        throw ApiError.tooLarge(maxBytes).toException();
                    });
        }
        return request.entity().withSizeLimit(maxBytes).toStrict(timeout.toMillis(), materializer)
                .handle((strict, failure) -> {
                    if (failure != null) {
                        if (Responses.unwrap(failure) instanceof EntityStreamSizeException) {
                            throw ApiError.tooLarge(maxBytes).toException();
                        }
                        throw ApiError.invalid(null, "could not read the request body: " + Responses.unwrap(failure).getMessage())
                                .toException();
                    }
                    return strict.getData().toArray();
                });
    }
}
