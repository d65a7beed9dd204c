package io.loraplex.router.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.loraplex.cluster.node.GpuNodeProtocol;
import io.loraplex.cluster.node.GpuNodeProtocol.ChatMessage;
import io.loraplex.cluster.node.SamplingLimits;
import io.loraplex.router.RouterSettings;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/** A validated {@code POST /v1/chat/completions} body. */
public record ChatRequest(String model, List<ChatMessage> messages, Sampling sampling, int n, boolean stream, boolean includeUsage,
        boolean logprobs, int topLogprobs) implements OpenAiRequest {

    static final Set<String> FIELDS;
    /** OpenAI chat fields this server does not implement: 400 "not supported" rather than silence. */
    static final Set<String> UNSUPPORTED = Set.of("tools", "tool_choice", "functions", "function_call",
            "parallel_tool_calls", "audio", "modalities", "prediction", "store", "metadata", "service_tier", "reasoning_effort",
            "web_search_options", "verbosity", "prompt_cache_key", "safety_identifier");

    static {
        Set<String> known = new java.util.HashSet<>(Sampling.FIELDS);
        known.addAll(Set.of("model", "messages", "max_completion_tokens", "n", "stream", "stream_options", "logprobs",
                "top_logprobs", "user"));
        FIELDS = Set.copyOf(known);
    }

    private static final Set<String> MESSAGE_FIELDS = Set.of("role", "content");
    private static final Set<String> MESSAGE_UNSUPPORTED = Set.of("name", "tool_calls", "tool_call_id", "function_call", "refusal",
            "audio");

    public ChatRequest {
        messages = List.copyOf(messages);
    }

    @Override
    public GpuNodeProtocol.Prompt prompt() {
        return new GpuNodeProtocol.ChatPrompt(messages);
    }

    @Override
    public int promptChars() {
        int chars = 0;
        for (ChatMessage m : messages) {
            chars += m.content().length() + 8;
        }
        return chars;
    }

    public static ChatRequest parse(byte[] body, RouterSettings settings) {
        ObjectNode json = Json.parseObject(body);
        Fields f = new Fields(json, "");
        f.allowOnly(FIELDS, UNSUPPORTED);

        String model = f.requiredString("model");
        List<ChatMessage> messages = messages(f.get("messages"));

        // max_completion_tokens is the current name; max_tokens the deprecated one (vLLM takes the first given)
        Integer maxTokens = f.integer32("max_completion_tokens", 1, Integer.MAX_VALUE);
        String maxTokensParam = "max_completion_tokens";
        if (maxTokens == null) {
            maxTokens = f.integer32("max_tokens", 1, Integer.MAX_VALUE);
            maxTokensParam = "max_tokens";
        }
        Sampling sampling = Sampling.parse(f, maxTokens, maxTokensParam);
        Integer n = f.integer32("n", 1, settings.maxN());
        StreamFields stream = OpenAiRequest.streamFields(f);
        boolean logprobs = f.bool("logprobs", false);
        Integer top = f.integer32("top_logprobs", 0, SamplingLimits.MAX_TOP_LOGPROBS);
        if (top != null && !logprobs) {
            throw ApiError.invalid("top_logprobs", "'logprobs' must be true when 'top_logprobs' is given").toException();
        }
        f.string("user"); // accepted and ignored, as OpenAI uses it only for abuse monitoring
        return new ChatRequest(model, messages, sampling, n == null ? 1 : n, stream.stream(), stream.includeUsage(), logprobs, top == null ? 0 : top);
    }

    private static List<ChatMessage> messages(JsonNode v) {
        if (v == null) {
            throw ApiError.invalid("messages", "you must provide 'messages'").toException();
        }
        if (!v.isArray()) {
            throw ApiError.wrongType("messages", "an array of messages").toException();
        }
        if (v.isEmpty()) {
            throw ApiError.invalid("messages", "'messages' must hold at least one message").toException();
        }
        List<ChatMessage> out = new ArrayList<>(v.size());
        for (int i = 0; i < v.size(); i++) {
            out.add(message(v.get(i), "messages[" + i + "]"));
        }
        return out;
    }

    private static ChatMessage message(JsonNode v, String param) {
        Fields m = Fields.of(v, param);
        m.allowOnly(MESSAGE_FIELDS, MESSAGE_UNSUPPORTED);
        String role = m.requiredString("role");
        role = switch (role) {
            case "system", "user", "assistant" -> role;
            case "developer" -> "system"; // OpenAI's newer name for system instructions
            default -> throw ApiError.invalid(m.param("role"), "'" + m.param("role") + "' must be one of system, user, assistant "
                    + "(developer); got '" + role + "'").toException();
        };
        JsonNode content = m.get("content");
        String text;
        if (content == null) {
            if (!role.equals("assistant")) {
                throw ApiError.invalid(m.param("content"), "you must provide '" + m.param("content") + "'").toException();
            }
            text = "";
        } else if (content.isTextual()) {
            text = content.textValue();
        } else if (content.isArray()) {
            text = parts(content, m.param("content"));
        } else {
            throw ApiError.wrongType(m.param("content"), "a string or an array of content parts").toException();
        }
        return new ChatMessage(role, text);
    }

    /** Text parts joined by newlines (as vLLM does); any other part type is refused by name. */
    private static String parts(JsonNode parts, String param) {
        if (parts.isEmpty()) {
            throw ApiError.invalid(param, "'" + param + "' must not be an empty array").toException();
        }
        StringBuilder text = new StringBuilder();
        for (int j = 0; j < parts.size(); j++) {
            String partParam = param + "[" + j + "]";
            Fields p = Fields.of(parts.get(j), partParam);
            String type = p.requiredString("type");
            if (!type.equals("text")) {
                throw new ApiError(400, "content parts of type '" + type + "' are not supported by this server; only 'text'",
                        ApiError.INVALID_REQUEST, p.param("type"), "unsupported_content_type", 0).toException();
            }
            p.allowOnly(Set.of("type", "text"), Set.of());
            if (j > 0) {
                text.append('\n');
            }
            text.append(p.requiredString("text"));
        }
        return text.toString();
    }
}
