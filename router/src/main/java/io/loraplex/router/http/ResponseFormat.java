package io.loraplex.router.http;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.loraplex.cluster.node.GpuNodeProtocol.OutputConstraint;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * OpenAI's {@code response_format}: {@code {"type": "text"}} (free text), {@code {"type": "json_object"}}
 * or {@code {"type": "json_schema", "json_schema": {"name", "schema", "strict", "description"}}}, as
 * the node's {@link OutputConstraint}. The shape is checked here, each fault named by its path; the
 * schema's keywords are the node's to judge (it compiles the schema, and refuses an unsupported
 * keyword by name with param {@code response_format}).
 */
final class ResponseFormat {

    static final String FIELD = "response_format";
    private static final Set<String> JSON_SCHEMA_FIELDS = Set.of("name", "schema", "strict", "description");
    /** OpenAI's rule for a schema's name. */
    private static final Pattern NAME = Pattern.compile("[a-zA-Z0-9_-]{1,64}");
    private static final ObjectMapper MAPPER = new ObjectMapper();

    private ResponseFormat() {
    }

    /** The constraint {@code response_format} asks for; null when absent, null or {@code text}. */
    static OutputConstraint parse(Fields request) {
        JsonNode v = request.get(FIELD);
        if (v == null) {
            return null;
        }
        Fields f = Fields.of(v, FIELD);
        String type = f.requiredString("type");
        return switch (type) {
            case "text" -> {
                f.allowOnly(Set.of("type"), Set.of());
                yield null;
            }
            case "json_object" -> {
                f.allowOnly(Set.of("type"), Set.of());
                yield new OutputConstraint(OutputConstraint.Kind.JSON_OBJECT, null);
            }
            case "json_schema" -> {
                f.allowOnly(Set.of("type", "json_schema"), Set.of());
                if (!f.has("json_schema")) {
                    throw ApiError.invalid(FIELD + ".json_schema", "'" + FIELD + ".json_schema' is required when '" + FIELD
                            + ".type' is 'json_schema'").toException();
                }
                Fields js = Fields.of(f.get("json_schema"), FIELD + ".json_schema");
                js.allowOnly(JSON_SCHEMA_FIELDS, Set.of());
                String name = js.requiredString("name");
                if (!NAME.matcher(name).matches()) {
                    throw ApiError.invalid(js.param("name"), "'" + js.param("name")
                            + "' must be 1 to 64 letters, digits, underscores or dashes").toException();
                }
                js.string("description");
                js.bool("strict"); // strict or not, the schema is enforced: constrained decoding has no looser mode
                JsonNode schema = js.get("schema");
                if (schema == null) {
                    throw ApiError.invalid(js.param("schema"), "'" + js.param("schema") + "' is required").toException();
                }
                if (!schema.isObject()) {
                    throw ApiError.wrongType(js.param("schema"), "a JSON schema object").toException();
                }
                yield new OutputConstraint(OutputConstraint.Kind.JSON_SCHEMA, text(schema));
            }
            default -> throw ApiError.invalid(f.param("type"), "'" + f.param("type")
                    + "' must be one of 'text', 'json_object', 'json_schema', got '" + type + "'").toException();
        };
    }

    private static String text(JsonNode schema) {
        try {
            return MAPPER.writeValueAsString(schema);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("a parsed JSON value failed to serialise", e);
        }
    }
}
