package io.loraplex.router.http;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.loraplex.cluster.TenantId;
import io.loraplex.cluster.adapter.AdapterProtocol;
import io.loraplex.cluster.adapter.AdapterProtocol.AdapterView;
import io.loraplex.cluster.adapter.AdapterProtocol.Error;
import io.loraplex.cluster.adapter.AdapterProtocol.Reply;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Every refusal of the Adapter entity as its HTTP status, code and message. */
class AdapterRefusalTest {

    static final AdapterView EXISTS = new AdapterView(new TenantId("acme"), "cafe", true, 1, null, 0, List.of());
    static final AdapterView GONE = new AdapterView(new TenantId("acme"), "cafe", false, null, null, 0, List.of());

    @Test
    void eachErrorHasItsStatus() {
        Map<Error, Integer> statuses = Map.of(Error.NOT_FOUND, 404, Error.CONFLICT, 409, Error.INVALID, 400,
                Error.QUOTA_EXCEEDED, 413, Error.REJECTED, 422, Error.UNAVAILABLE, 503);
        for (Error error : Error.values()) {
            ApiError e = AdapterFlow.refusal(Reply.refused(error, "why: " + error, EXISTS), "cafe");
            assertEquals(statuses.get(error), e.status(), error.name());
            assertEquals("why: " + error, e.message(), error.name());
        }
    }

    @Test
    void aMissingAdapterReadsTheSameWhateverTheEntitySays() {
        ApiError gone = AdapterFlow.refusal(Reply.refused(Error.NOT_FOUND, "tombstone of cafe since 2026-01-01", GONE), "cafe");
        assertEquals(ApiError.adapterNotFound("cafe"), gone);
        ApiError version = AdapterFlow.refusal(Reply.refused(Error.NOT_FOUND, "no version 7", EXISTS), "cafe");
        assertEquals("version_not_found", version.code());
        assertEquals("no version 7", version.message());
    }

    @Test
    void aRefusalWithoutAnErrorIsAnInternalError() {
        assertEquals(500, AdapterFlow.refusal(new AdapterProtocol.Reply(false, null, "", EXISTS), "cafe").status());
    }
}
