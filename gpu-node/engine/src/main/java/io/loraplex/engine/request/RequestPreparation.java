package io.loraplex.engine.request;

import io.loraplex.engine.ServedModel;
import io.loraplex.engine.constrain.ConstraintException;
import io.loraplex.engine.constrain.Constraints;
import io.loraplex.engine.constrain.TokenConstraint;
import io.loraplex.engine.request.RequestRefusal.Code;
import io.loraplex.engine.sample.GenerationDefaults;
import io.loraplex.engine.sample.SamplingParamException;
import io.loraplex.engine.sample.SamplingParams;
import io.loraplex.engine.tokenizer.ChatTemplate;
import io.loraplex.engine.tokenizer.ChatTemplateException;
import io.loraplex.engine.tokenizer.Tokenizer;
import java.util.Objects;

/**
 * The one way from a caller's request to what the engine runs, for the GPU node and the CLI alike:
 * the prompt to tokens (chat messages through the base's chat template), the parameters to
 * {@link SamplingParams}. Each value is checked once, by {@code SamplingParams} against
 * {@link io.loraplex.cluster.node.SamplingLimits}; the context is checked here. The length of a
 * generation falls back in one order: the request's {@code max_tokens}, the model's
 * {@code max_new_tokens}, the caller's default; whichever applies is cut to what the context leaves.
 * Every refusal is a {@link RequestRefusal} carrying its code and parameter.
 */
public final class RequestPreparation {

    /** Compiled schemas kept per tokenizer; a tenant's assistant sends the same few over and over. */
    private static final int CACHED_SCHEMAS = 256;

    /** Tokens generated when neither the request nor the model says: the CLI's, and the node's unless configured. */
    public static final int DEFAULT_MAX_TOKENS = 512;

    private final String modelId;
    private final Tokenizer tokenizer;
    private final ChatTemplate chatTemplate; // null when the model has none
    private final GenerationDefaults defaults;
    private final int contextLength;
    private final int defaultMaxTokens;
    private final Constraints constraints;

    /**
     * @param chatTemplate     null when the model has none (chat prompts are then refused)
     * @param contextLength    the model's maximum positions, prompt and output together
     * @param defaultMaxTokens tokens generated when neither the request nor {@code defaults} say
     */
    public RequestPreparation(String modelId, Tokenizer tokenizer, ChatTemplate chatTemplate, GenerationDefaults defaults,
            int contextLength, int defaultMaxTokens) {
        this.modelId = Objects.requireNonNull(modelId, "modelId");
        this.tokenizer = Objects.requireNonNull(tokenizer, "tokenizer");
        this.chatTemplate = chatTemplate;
        this.defaults = Objects.requireNonNull(defaults, "defaults");
        if (contextLength < 2) {
            throw new IllegalArgumentException("contextLength must allow a prompt token and an output token, got " + contextLength);
        }
        if (defaultMaxTokens < 1) {
            throw new IllegalArgumentException("defaultMaxTokens must be at least 1, got " + defaultMaxTokens);
        }
        this.contextLength = contextLength;
        this.defaultMaxTokens = defaultMaxTokens;
        this.constraints = new Constraints(tokenizer, tokenizer.vocabSize(), CACHED_SCHEMAS);
    }

    /** The preparation of a served model: its tokenizer, chat template, generation config and context. */
    public static RequestPreparation of(ServedModel model, int defaultMaxTokens) {
        return new RequestPreparation(model.id(), model.tokenizer(), model.chatTemplate().orElse(null), model.defaults(),
                model.model().config().maxPositionEmbeddings(), defaultMaxTokens);
    }

    /** The prompt's tokens and the sampling parameters, or a {@link RequestRefusal}. */
    public PreparedRequest prepare(Prompt prompt, RequestParams params) {
        int[] tokens = tokens(prompt);
        return new PreparedRequest(tokens, sampling(params, tokens.length));
    }

    /**
     * As {@link #prepare(Prompt, RequestParams)}, with the output held to {@code format} (null: free
     * text); an unsupported schema is refused naming {@code response_format} and the keyword.
     */
    public PreparedRequest prepare(Prompt prompt, RequestParams params, OutputFormat format) {
        TokenConstraint constraint = constraint(format, "response_format");
        int[] tokens = tokens(prompt);
        SamplingParams sampling = sampling(params, tokens.length);
        return new PreparedRequest(tokens, constraint == null ? sampling : sampling.toBuilder().constraint(constraint).build());
    }

    /**
     * {@code format} compiled for this model's tokenizer (cached by schema), or null for free text.
     * A schema outside the supported subset is refused as an invalid {@code param}, the message naming
     * the keyword.
     */
    public TokenConstraint constraint(OutputFormat format, String param) {
        if (format == null) {
            return null;
        }
        try {
            return switch (format) {
                case OutputFormat.JsonObject o -> constraints.jsonObject();
                case OutputFormat.JsonSchema s -> constraints.jsonSchema(s.schema());
            };
        } catch (ConstraintException e) {
            throw new RequestRefusal(Code.INVALID_VALUE, param, e.getMessage());
        }
    }

    /** The prompt's tokens: at least one, or a refusal naming {@code messages} or {@code prompt}. */
    public int[] tokens(Prompt prompt) {
        int[] tokens = switch (prompt) {
            case Prompt.Text text -> tokenizer.encode(text.text(), true);
            case Prompt.Tokens given -> checkedIds(given.ids());
            case Prompt.Chat chat -> {
                if (chat.messages().isEmpty()) {
                    throw new RequestRefusal(Code.INVALID_VALUE, "messages", "messages must not be empty");
                }
                if (chatTemplate == null) {
                    throw new RequestRefusal(Code.INVALID_VALUE, "messages", "the base model " + modelId
                            + " has no chat template; use /v1/completions");
                }
                String rendered;
                try {
                    rendered = chatTemplate.render(chat.messages(), chat.toolsJson(), true);
                } catch (ChatTemplateException e) {
                    // the template's own words, without the file it was read from (a server path)
                    throw new RequestRefusal(Code.INVALID_VALUE, "messages", "the chat template refused the messages: "
                            + e.templateMessage());
                } catch (IllegalArgumentException e) {
                    throw new RequestRefusal(Code.INVALID_VALUE, "messages", "the chat template refused the messages: "
                            + e.getMessage());
                }
                // the template wrote the special tokens itself
                yield tokenizer.encode(rendered, false);
            }
        };
        if (tokens.length == 0) {
            throw new RequestRefusal(Code.INVALID_VALUE, "prompt", "the prompt is empty");
        }
        return tokens;
    }

    /**
     * Ids the tokenizer knows, or a refusal naming {@code prompt}, the id and the vocabulary size: an id
     * past the embedding would fail the whole batch's step, one past the tokenizer has no text.
     */
    private int[] checkedIds(int[] ids) {
        int vocab = tokenizer.vocabSize();
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= vocab) {
                throw new RequestRefusal(Code.INVALID_VALUE, "prompt", "'prompt' holds token id " + ids[i] + " at position " + i
                        + ", outside the vocabulary of " + modelId + " (ids 0 to " + (vocab - 1) + ", vocabulary size " + vocab + ")");
            }
        }
        return ids;
    }

    /**
     * The request's sampling parameters over the model's generation config, with the length settled
     * against the context that {@code promptTokens} leave.
     */
    public SamplingParams sampling(RequestParams p, int promptTokens) {
        if (promptTokens >= contextLength) {
            throw new RequestRefusal(Code.CONTEXT_LENGTH_EXCEEDED, "messages", "This model's maximum context length is "
                    + contextLength + " tokens. However, your messages resulted in " + promptTokens
                    + " tokens. Please reduce the length of the messages.");
        }
        if (p.maxTokens() != null && promptTokens + (long) p.maxTokens() > contextLength) {
            throw new RequestRefusal(Code.CONTEXT_LENGTH_EXCEEDED, "max_tokens", "This model's maximum context length is "
                    + contextLength + " tokens. However, you requested " + (promptTokens + (long) p.maxTokens()) + " tokens ("
                    + promptTokens + " in the messages, " + p.maxTokens()
                    + " in the completion). Please reduce the length of the messages or completion.");
        }
        int room = contextLength - promptTokens;
        SamplingParams.Builder b = SamplingParams.builder();
        if (p.temperature() != null) {
            b.temperature(p.temperature());
        }
        if (p.topK() != null) {
            b.topK(p.topK());
        }
        if (p.topP() != null) {
            b.topP(p.topP());
        }
        if (p.minP() != null) {
            b.minP(p.minP());
        }
        if (p.repetitionPenalty() != null) {
            b.repetitionPenalty(p.repetitionPenalty());
        }
        if (p.presencePenalty() != null) {
            b.presencePenalty(p.presencePenalty());
        }
        if (p.frequencyPenalty() != null) {
            b.frequencyPenalty(p.frequencyPenalty());
        }
        if (!p.logitBias().isEmpty()) {
            b.logitBias(p.logitBias());
        }
        if (p.seed() != null) {
            b.seed(p.seed());
        }
        if (!p.stop().isEmpty()) {
            b.stop(p.stop());
        }
        if (!p.stopTokenIds().isEmpty()) {
            b.stopTokenIds(p.stopTokenIds());
        }
        b.ignoreEos(p.ignoreEos());
        if (p.logprobs()) {
            b.logprobs(true).topLogprobs(p.topLogprobs());
        }
        if (p.maxTokens() != null) {
            b.maxTokens(p.maxTokens());
        } else if (defaults.maxNewTokens() == null) {
            b.maxTokens(Math.min(defaultMaxTokens, room));
        }
        try {
            SamplingParams params = b.build().withDefaults(defaults);
            // the model's max_new_tokens may exceed what this prompt leaves
            return params.maxTokens() > room ? params.toBuilder().maxTokens(room).build() : params;
        } catch (SamplingParamException e) {
            throw new RequestRefusal(Code.INVALID_VALUE, e.param(), e.getMessage());
        }
    }
}
