package io.loraplex.router.http;

import io.loraplex.cluster.node.GpuNodeProtocol;

/** A validated generation request of either endpoint; what the request flow needs of it. */
public sealed interface OpenAiRequest permits ChatRequest, CompletionRequest {

    /** As the client wrote it: an adapter name of the caller, or a base model id. Echoed in responses. */
    String model();

    GpuNodeProtocol.Prompt prompt();

    /** The prompt of generation {@code choice}: {@code n} choices per prompt, prompt by prompt. */
    default GpuNodeProtocol.Prompt prompt(int choice) {
        return prompt();
    }

    /** Generations to run and choices to answer: {@code n} for each prompt. */
    default int choices() {
        return n();
    }

    Sampling sampling();

    /** Choices to generate (OpenAI's {@code n}). */
    int n();

    boolean stream();

    /** {@code stream_options.include_usage}. */
    boolean includeUsage();

    boolean logprobs();

    int topLogprobs();

    /** Characters of prompt text, for the admission's token estimate. */
    int promptChars();

    /** {@code stream} and {@code stream_options.include_usage}. */
    record StreamFields(boolean stream, boolean includeUsage) {
    }

    /** Parses the {@code stream} and {@code stream_options} fields (same rules on both endpoints). */
    static StreamFields streamFields(Fields f) {
        boolean stream = f.bool("stream", false);
        boolean includeUsage = false;
        if (f.has("stream_options")) {
            if (!stream) {
                throw ApiError.invalid("stream_options", "'stream_options' is only allowed when 'stream' is true").toException();
            }
            Fields options = Fields.of(f.get("stream_options"), "stream_options");
            options.allowOnly(java.util.Set.of("include_usage"), java.util.Set.of("include_obfuscation"));
            includeUsage = options.bool("include_usage", false);
        }
        return new StreamFields(stream, includeUsage);
    }
}
