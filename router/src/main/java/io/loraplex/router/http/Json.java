package io.loraplex.router.http;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;

/** The one JSON mapper of the HTTP API: strict reading (duplicate keys, trailing tokens), compact writing. */
public final class Json {

    public static final ObjectMapper MAPPER = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS)
            .disable(StreamReadFeature.INCLUDE_SOURCE_IN_LOCATION)
            .build();

    private Json() {
    }

    /** A request body as a JSON object, or a 400 that names the parse problem and where it is. */
    static ObjectNode parseObject(byte[] body) {
        if (body.length == 0) {
            throw ApiError.malformedJson("the body is empty; expected a JSON object").toException();
        }
        JsonNode node;
        try {
            node = MAPPER.readTree(body);
        } catch (JsonProcessingException e) {
            JsonLocation at = e.getLocation();
            String where = at == null ? "" : " (line " + at.getLineNr() + ", column " + at.getColumnNr() + ")";
            // Jackson names where a nested value started with a "[Source: REDACTED ...; line" prefix: keep the line
            String problem = e.getOriginalMessage().replaceAll("\\[Source: [^\\]]*?; line", "[line");
            throw ApiError.malformedJson(problem + where).toException();
        } catch (IOException e) {
            throw ApiError.malformedJson(e.getMessage()).toException();
        }
        if (node == null || node.isMissingNode()) {
            throw ApiError.malformedJson("the body is empty; expected a JSON object").toException();
        }
        if (!(node instanceof ObjectNode object)) {
            throw ApiError.malformedJson("expected a JSON object, got " + node.getNodeType().name().toLowerCase()).toException();
        }
        return object;
    }

    public static ObjectNode object() {
        return MAPPER.createObjectNode();
    }

    public static byte[] bytes(JsonNode node) {
        try {
            return MAPPER.writeValueAsBytes(node);
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }

}
