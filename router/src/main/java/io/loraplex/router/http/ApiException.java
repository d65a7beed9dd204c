package io.loraplex.router.http;

/** Carries an {@link ApiError} out of parsing and the request flow; the route answers with it. */
public final class ApiException extends RuntimeException {

    private final ApiError error;

    public ApiException(ApiError error) {
        super(error.message(), null, false, false);
        this.error = error;
    }

    public ApiError error() {
        return error;
    }
}
