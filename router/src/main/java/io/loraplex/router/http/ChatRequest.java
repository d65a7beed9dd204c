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
        boolean logprobs, int topLogprobs, ToolUse toolUse) implements OpenAiRequest {

    static final Set<String> FIELDS;
    /** OpenAI chat fields this server does not implement: 400 "not supported" rather than silence. */
    static final Set<String> UNSUPPORTED = Set.of("functions", "function_call",
            "audio", "modalities", "prediction", "store", "metadata", "service_tier", "reasoning_effort",
            "web_search_options", "verbosity", "prompt_cache_key", "safety_identifier");

    static {
        Set<String> known = new java.util.HashSet<>(Sampling.FIELDS);
        known.addAll(Set.of("model", "messages", "max_completion_tokens", "n", "stream", "stream_options", "logprobs",
                "top_logprobs", "user", "tools", "tool_choice", "parallel_tool_calls"));
        FIELDS = Set.copyOf(known);
    }

    /**
     * {@code parsed} and {@code annotations} are fields of an answer's message that clients send back
     * when they append that message to the conversation (the openai SDK's streamed and parsed messages
     * carry {@code parsed}): read and ignored, as the content says what they say.
     */
    private static final Set<String> MESSAGE_FIELDS = Set.of("role", "content", "name", "tool_calls", "tool_call_id", "parsed",
            "annotations");
    private static final Set<String> MESSAGE_UNSUPPORTED = Set.of("function_call", "refusal", "audio");

    public ChatRequest {
        messages = List.copyOf(messages);
    }

    @Override
    public GpuNodeProtocol.Prompt prompt() {
        return new GpuNodeProtocol.ChatPrompt(messages, toolUse.toolsJson());
    }

    @Override
    public int promptChars() {
        int chars = 0;
        for (ChatMessage m : messages) {
            chars += m.content().length() + 8;
            for (GpuNodeProtocol.ToolCall call : m.toolCalls()) {
                chars += call.name().length() + call.argumentsJson().length() + 16;
            }
        }
        String tools = toolUse.toolsJson();
        return tools == null ? chars : chars + tools.length();
    }

    public static ChatRequest parse(byte[] body, RouterSettings settings) {
        ObjectNode json = Json.parseObject(body);
        Fields f = new Fields(json, "");
        f.allowOnly(FIELDS, UNSUPPORTED);

        String model = f.requiredString("model");
        List<ChatMessage> messages = messages(f.get("messages"));
        ToolUse toolUse = ToolUse.parse(f);

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
        return new ChatRequest(model, messages, sampling, n == null ? 1 : n, stream.stream(), stream.includeUsage(), logprobs, top == null ? 0 : top,
                toolUse);
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
            out.add(message(v.get(i), "messages[" + i + "]", out));
        }
        return out;
    }

    private static ChatMessage message(JsonNode v, String param, List<ChatMessage> before) {
        Fields m = Fields.of(v, param);
        m.allowOnly(MESSAGE_FIELDS, MESSAGE_UNSUPPORTED);
        String role = m.requiredString("role");
        role = switch (role) {
            case "system", "user", "assistant", "tool" -> role;
            case "developer" -> "system"; // OpenAI's newer name for system instructions
            default -> throw ApiError.invalid(m.param("role"), "'" + m.param("role") + "' must be one of system, user, assistant, "
                    + "tool (developer); got '" + role + "'").toException();
        };
        // a tool message's name (of the function, as LangChain and others send it) reaches the template;
        // a participant's name on other messages is not supported, as before
        if (!role.equals("tool") && m.has("name")) {
            throw ApiError.unsupported(m.param("name")).toException();
        }
        String name = m.string("name");
        List<GpuNodeProtocol.ToolCall> toolCalls = List.of();
        if (m.has("tool_calls")) {
            if (!role.equals("assistant")) {
                throw ApiError.invalid(m.param("tool_calls"), "'" + m.param("tool_calls") + "' is only allowed on assistant messages")
                        .toException();
            }
            toolCalls = toolCalls(m.get("tool_calls"), m.param("tool_calls"));
        }
        String toolCallId = null;
        if (role.equals("tool")) {
            toolCallId = answeredCall(m, before);
        } else if (m.has("tool_call_id")) {
            throw ApiError.invalid(m.param("tool_call_id"), "'" + m.param("tool_call_id") + "' is only allowed on tool messages")
                    .toException();
        }
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
        return new ChatMessage(role, text, toolCalls, toolCallId, name);
    }

    /** An assistant's {@code tool_calls}: {@code [{id, type: "function", function: {name, arguments}}]}. */
    private static List<GpuNodeProtocol.ToolCall> toolCalls(JsonNode v, String param) {
        if (!v.isArray()) {
            throw ApiError.wrongType(param, "an array of tool calls").toException();
        }
        if (v.isEmpty()) {
            throw ApiError.invalid(param, "'" + param + "' must hold at least one tool call; leave it out for none").toException();
        }
        List<GpuNodeProtocol.ToolCall> calls = new ArrayList<>(v.size());
        Set<String> ids = new java.util.HashSet<>();
        for (int i = 0; i < v.size(); i++) {
            Fields c = Fields.of(v.get(i), param + "[" + i + "]");
            c.allowOnly(Set.of("id", "type", "function"), Set.of("custom"));
            String id = c.requiredString("id");
            if (!ids.add(id)) {
                throw ApiError.invalid(c.param("id"), "'" + c.param("id") + "' is '" + id + "', the id of an earlier call of "
                        + "this message; call ids must be unique").toException();
            }
            Fields fn = c.function();
            // parsed_arguments: the openai SDK's parse of arguments, on a call it sends back (ignored)
            fn.allowOnly(Set.of("name", "arguments", "parsed_arguments"), Set.of());
            calls.add(new GpuNodeProtocol.ToolCall(id, fn.requiredString("name"), fn.requiredString("arguments")));
        }
        return calls;
    }

    /**
     * The {@code tool_call_id} of a tool message, which must answer a call of the assistant message
     * that the run of tool messages it belongs to follows (as OpenAI requires).
     */
    private static String answeredCall(Fields m, List<ChatMessage> before) {
        ChatMessage asker = null;
        for (int i = before.size() - 1; i >= 0; i--) {
            ChatMessage previous = before.get(i);
            if (!previous.role().equals("tool")) {
                asker = previous.toolCalls().isEmpty() ? null : previous;
                break;
            }
        }
        if (asker == null) {
            throw ApiError.invalid(m.param("role"), "'" + m.param("role") + "' is 'tool', but a tool message must answer a "
                    + "preceding assistant message with 'tool_calls'").toException();
        }
        String id = m.requiredString("tool_call_id");
        List<String> ids = asker.toolCalls().stream().map(GpuNodeProtocol.ToolCall::id).toList();
        if (!ids.contains(id)) {
            throw ApiError.invalid(m.param("tool_call_id"), "'" + m.param("tool_call_id") + "' is '" + id + "', which is not the id "
                    + "of a call of the preceding assistant message (" + String.join(", ", ids) + ")").toException();
        }
        return id;
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
