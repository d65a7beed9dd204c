package io.loraplex.router.http;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.loraplex.cluster.TenantId;
import io.loraplex.cluster.tenant.TenantProtocol;
import java.util.Optional;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;

/**
 * A tenant's usage report ({@code ?from=&to=}, epoch hours, both inclusive; by default the last 31
 * days), for {@code GET /v1/usage} and the admin API.
 */
final class Usage {

    static final long DEFAULT_HOURS = 31 * 24;

    private Usage() {
    }

    record Range(long fromEpochHour, long toEpochHour) {
    }

    /** The range a request's query names, or a 400 naming the bad parameter. */
    static Range range(HttpRequest request) {
        long now = System.currentTimeMillis() / 3_600_000L;
        Long to = hour(request, "to");
        Long from = hour(request, "from");
        long end = to != null ? to : now;
        long start = from != null ? from : Math.max(0, end - DEFAULT_HOURS + 1);
        if (start > end) {
            throw ApiError.invalid("from", "'from' (" + start + ") must not be after 'to' (" + end + ")").toException();
        }
        return new Range(start, end);
    }

    static CompletionStage<HttpResponse> report(Entities entities, TenantId tenant, Range range) {
        return entities.<TenantProtocol.UsageReport>tenant(tenant,
                replyTo -> new TenantProtocol.GetUsage(range.fromEpochHour(), range.toEpochHour(), replyTo)).thenApply(report -> {
                    if (!report.exists()) {
                        throw ApiError.tenantNotFound(tenant.value()).toException();
                    }
                    ObjectNode body = Json.object();
                    body.put("object", "usage");
                    body.put("tenant", tenant.value());
                    body.put("from", range.fromEpochHour());
                    body.put("to", range.toEpochHour());
                    ArrayNode data = body.putArray("data");
                    for (TenantProtocol.UsageRow row : report.rows()) {
                        ObjectNode r = data.addObject();
                        r.put("hour", row.epochHour());
                        r.put("model", row.model());
                        r.put("requests", row.requests());
                        r.put("tokens", row.tokens());
                    }
                    return Responses.json(200, body);
                });
    }

    private static Long hour(HttpRequest request, String name) {
        Optional<String> value = request.getUri().query().get(name);
        if (value.isEmpty()) {
            return null;
        }
        try {
            long hour = Long.parseLong(value.get().strip());
            if (hour < 0) {
                throw new NumberFormatException();
            }
            return hour;
        } catch (NumberFormatException e) {
            throw ApiError.invalid(name, "'" + name + "' must be a non-negative integer (hours since the epoch), got '"
                    + value.get() + "'").toException();
        }
    }
}
