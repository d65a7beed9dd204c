package io.loraplex.engine.request;

/**
 * What a request's output must be, as its caller asks for it: the engine's side of the cluster's
 * {@code OutputConstraint} (the engine does not see the cluster's protocol classes).
 * {@link RequestPreparation#constraint} compiles it.
 */
public sealed interface OutputFormat {

    /** Any JSON object ({@code response_format: {"type": "json_object"}}). */
    record JsonObject() implements OutputFormat {
    }

    /** JSON valid against {@code schema}, a JSON schema of OpenAI's strict-mode subset, as text. */
    record JsonSchema(String schema) implements OutputFormat {
        public JsonSchema {
            if (schema == null || schema.isBlank()) {
                throw new IllegalArgumentException("a JSON schema output format needs its schema");
            }
        }
    }
}
