package io.loraplex.router.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.loraplex.cluster.node.GpuNodeProtocol;
import io.loraplex.cluster.node.SamplingLimits;
import io.loraplex.router.RouterSettings;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * A validated {@code POST /v1/completions} body (OpenAI's legacy text completions).
 *
 * @param prompts       one or more text prompts, or one or more token-id prompts; {@code n} choices are generated for each,
 *                      indexed prompt by prompt
 * @param logprobsCount {@code logprobs}: null for none, else how many alternatives per token (0: the sampled one only)
 */
public record CompletionRequest(String model, List<GpuNodeProtocol.Prompt> prompts, Sampling sampling, int n, boolean stream,
        boolean includeUsage, Integer logprobsCount) implements OpenAiRequest {

    static final Set<String> FIELDS;
    /** OpenAI completions fields this server does not implement. */
    static final Set<String> UNSUPPORTED = Set.of("echo", "best_of", "suffix", "metadata", "store", "service_tier");

    static {
        Set<String> known = new java.util.HashSet<>(Sampling.FIELDS);
        known.addAll(Set.of("model", "prompt", "n", "stream", "stream_options", "logprobs", "user"));
        FIELDS = Set.copyOf(known);
    }

    public CompletionRequest {
        prompts = List.copyOf(prompts);
        if (prompts.isEmpty()) {
            throw new IllegalArgumentException("a completion request has at least one prompt");
        }
    }

    /** The first prompt (the only one, unless several token-id prompts were sent). */
    @Override
    public GpuNodeProtocol.Prompt prompt() {
        return prompts.getFirst();
    }

    @Override
    public GpuNodeProtocol.Prompt prompt(int choice) {
        return prompts.get(choice / n);
    }

    @Override
    public int choices() {
        return prompts.size() * n;
    }

    @Override
    public boolean logprobs() {
        return logprobsCount != null;
    }

    @Override
    public int topLogprobs() {
        return logprobsCount == null ? 0 : logprobsCount;
    }

    /** Text's characters; a token id counts as the four characters a token is estimated at. */
    @Override
    public int promptChars() {
        long chars = 0;
        for (GpuNodeProtocol.Prompt p : prompts) {
            chars += switch (p) {
                case GpuNodeProtocol.TextPrompt t -> t.text().length();
                case GpuNodeProtocol.TokenPrompt t -> 4L * t.length();
                case GpuNodeProtocol.ChatPrompt c -> throw new IllegalStateException("a completion has no chat prompt");
            };
        }
        return (int) Math.min(Integer.MAX_VALUE, chars);
    }

    public static CompletionRequest parse(byte[] body, RouterSettings settings) {
        ObjectNode json = Json.parseObject(body);
        Fields f = new Fields(json, "");
        f.allowOnly(FIELDS, UNSUPPORTED);

        String model = f.requiredString("model");
        List<GpuNodeProtocol.Prompt> prompts = prompts(f.get("prompt"), settings.maxPromptTokenIds());
        Integer maxTokens = f.integer32("max_tokens", 1, Integer.MAX_VALUE);
        Sampling sampling = Sampling.parse(f, maxTokens, "max_tokens"); // absent: the router's default, later
        Integer n = f.integer32("n", 1, settings.maxN());
        int choices = n == null ? 1 : n;
        if ((long) prompts.size() * choices > settings.maxN()) {
            throw ApiError.invalid("prompt", "'prompt' holds " + prompts.size() + " prompts and 'n' is " + choices + ": "
                    + prompts.size() * choices + " choices, above this server's limit of " + settings.maxN()
                    + " per request").toException();
        }
        StreamFields stream = OpenAiRequest.streamFields(f);
        Integer logprobs = f.integer32("logprobs", 0, SamplingLimits.MAX_TOP_LOGPROBS);
        f.string("user");
        return new CompletionRequest(model, prompts, sampling, choices, stream.stream(), stream.includeUsage(), logprobs);
    }

    /**
     * A string, an array of strings, an array of token ids, or an array of such arrays (one prompt each),
     * as OpenAI takes them.
     */
    private static List<GpuNodeProtocol.Prompt> prompts(JsonNode v, int maxTokenIds) {
        if (v == null) {
            throw ApiError.invalid("prompt", "you must provide 'prompt'").toException();
        }
        if (v.isTextual()) {
            return List.of(new GpuNodeProtocol.TextPrompt(v.textValue()));
        }
        if (v.isArray()) {
            if (v.isEmpty()) {
                throw ApiError.invalid("prompt", "'prompt' must not be an empty array").toException();
            }
            if (v.get(0).isTextual()) {
                List<GpuNodeProtocol.Prompt> prompts = new ArrayList<>(v.size());
                for (int i = 0; i < v.size(); i++) {
                    JsonNode inner = v.get(i);
                    if (!inner.isTextual()) {
                        throw ApiError.invalid("prompt", "'prompt[" + i + "]' is " + describe(inner) + ": 'prompt' holds either "
                                + "strings, token ids or arrays of token ids, not a mix").toException();
                    }
                    prompts.add(new GpuNodeProtocol.TextPrompt(inner.textValue()));
                }
                return List.copyOf(prompts);
            }
            if (v.get(0).isArray()) {
                List<GpuNodeProtocol.Prompt> prompts = new ArrayList<>(v.size());
                long total = 0;
                for (int i = 0; i < v.size(); i++) {
                    JsonNode inner = v.get(i);
                    if (!inner.isArray()) {
                        throw mixed("prompt[" + i + "]", inner);
                    }
                    total += inner.size();
                    requireWithin(total, maxTokenIds);
                    prompts.add(new GpuNodeProtocol.TokenPrompt(tokenIds(inner, "prompt[" + i + "]")));
                }
                return List.copyOf(prompts);
            }
            if (v.get(0).isNumber()) {
                requireWithin(v.size(), maxTokenIds);
                return List.of(new GpuNodeProtocol.TokenPrompt(tokenIds(v, "prompt")));
            }
        }
        throw ApiError.wrongType("prompt", "a string, an array of one string, an array of token ids (integers), or an array "
                + "of such arrays").toException();
    }

    /** The ids of one token-id prompt, each a non-negative integer, or a 400 naming the element. */
    private static int[] tokenIds(JsonNode array, String where) {
        if (array.isEmpty()) {
            throw ApiError.invalid("prompt", "'" + where + "' is an empty array of token ids; a prompt needs at least one")
                    .toException();
        }
        int[] ids = new int[array.size()];
        for (int i = 0; i < ids.length; i++) {
            JsonNode e = array.get(i);
            String at = where + "[" + i + "]";
            if (e.isArray()) {
                throw mixed(at, e);
            }
            if (!e.isIntegralNumber() || !e.canConvertToInt()) {
                throw ApiError.invalid("prompt", "'" + at + "' is " + describe(e) + ", not a token id (an integer from 0)")
                        .toException();
            }
            if (e.intValue() < 0) {
                throw ApiError.invalid("prompt", "'" + at + "' is " + e.intValue() + "; token ids are not negative").toException();
            }
            ids[i] = e.intValue();
        }
        return ids;
    }

    private static ApiException mixed(String at, JsonNode e) {
        return ApiError.invalid("prompt", "'" + at + "' is " + describe(e) + ": 'prompt' holds either strings, token ids "
                + "or arrays of token ids, not a mix").toException();
    }

    private static void requireWithin(long tokenIds, int limit) {
        if (tokenIds > limit) {
            throw ApiError.invalid("prompt", "'prompt' holds more than " + limit + " token ids; this server takes at most "
                    + limit + " per request").toException();
        }
    }

    /** A JSON value as a message names it: a number as written, anything else by its kind. */
    private static String describe(JsonNode e) {
        if (e.isNumber() || e.isBoolean() || e.isNull()) {
            return e.toString();
        }
        return switch (e.getNodeType()) {
            case STRING -> "a string";
            case ARRAY -> "an array";
            case OBJECT -> "an object";
            default -> "a " + e.getNodeType().name().toLowerCase(java.util.Locale.ROOT);
        };
    }
}
