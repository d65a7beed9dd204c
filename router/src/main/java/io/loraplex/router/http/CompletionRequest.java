package io.loraplex.router.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.loraplex.cluster.node.GpuNodeProtocol;
import io.loraplex.cluster.node.SamplingLimits;
import io.loraplex.router.RouterSettings;
import java.util.Set;

/**
 * A validated {@code POST /v1/completions} body (OpenAI's legacy text completions).
 *
 * @param logprobsCount {@code logprobs}: null for none, else how many alternatives per token (0: the sampled one only)
 */
public record CompletionRequest(String model, String text, Sampling sampling, int n, boolean stream, boolean includeUsage,
        Integer logprobsCount) implements OpenAiRequest {

    static final Set<String> FIELDS;
    /** OpenAI completions fields this server does not implement. */
    static final Set<String> UNSUPPORTED = Set.of("echo", "best_of", "suffix", "metadata", "store", "service_tier");

    static {
        Set<String> known = new java.util.HashSet<>(Sampling.FIELDS);
        known.addAll(Set.of("model", "prompt", "n", "stream", "stream_options", "logprobs", "user"));
        FIELDS = Set.copyOf(known);
    }

    @Override
    public GpuNodeProtocol.Prompt prompt() {
        return new GpuNodeProtocol.TextPrompt(text);
    }

    @Override
    public boolean logprobs() {
        return logprobsCount != null;
    }

    @Override
    public int topLogprobs() {
        return logprobsCount == null ? 0 : logprobsCount;
    }

    @Override
    public int promptChars() {
        return text.length();
    }

    public static CompletionRequest parse(byte[] body, RouterSettings settings) {
        ObjectNode json = Json.parseObject(body);
        Fields f = new Fields(json, "");
        f.allowOnly(FIELDS, UNSUPPORTED);

        String model = f.requiredString("model");
        String prompt = prompt(f.get("prompt"));
        Integer maxTokens = f.integer32("max_tokens", 1, Integer.MAX_VALUE);
        Sampling sampling = Sampling.parse(f, maxTokens, "max_tokens"); // absent: the router's default, later
        Integer n = f.integer32("n", 1, settings.maxN());
        StreamFields stream = OpenAiRequest.streamFields(f);
        Integer logprobs = f.integer32("logprobs", 0, SamplingLimits.MAX_TOP_LOGPROBS);
        f.string("user");
        return new CompletionRequest(model, prompt, sampling, n == null ? 1 : n, stream.stream(), stream.includeUsage(), logprobs);
    }

    /** A string, or an array of one string; token-id prompts and batches are refused. */
    private static String prompt(JsonNode v) {
        if (v == null) {
            throw ApiError.invalid("prompt", "you must provide 'prompt'").toException();
        }
        if (v.isTextual()) {
            return v.textValue();
        }
        if (v.isArray()) {
            if (v.size() == 1 && v.get(0).isTextual()) {
                return v.get(0).textValue();
            }
            if (v.size() > 1 && v.get(0).isTextual()) {
                throw ApiError.invalid("prompt", "'prompt' may hold one string; batches of prompts are not supported by this "
                        + "server, send one request per prompt").toException();
            }
            if (!v.isEmpty() && (v.get(0).isIntegralNumber() || v.get(0).isArray())) {
                throw ApiError.invalid("prompt", "prompts as token ids are not supported by this server; send text")
                        .toException();
            }
        }
        throw ApiError.wrongType("prompt", "a string or an array of one string").toException();
    }
}
