package io.loraplex.router.http;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.loraplex.cluster.node.GpuNodeProtocol.ToolCall;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Reads a model's answer as tool calls. The forms read are those the chat templates teach and the
 * constraint forces: {@code <tool_call>{...}</tool_call>} blocks (Hermes, Qwen2/2.5/3, and the
 * prompt loraplex writes for templates without tools), a bare JSON call or array of calls (the
 * constrained output, Llama 3.1/3.2 with {@code "parameters"}), optionally after Mistral's
 * {@code [TOOL_CALLS]}. A call is {@code {"name": <a tool's name>, "arguments"|"parameters": {...}}}.
 * Anything else, or a name that is not among the tools, is no call: the answer stays text.
 */
final class ToolCalls {

    static final String OPEN = "<tool_call>";
    static final String CLOSE = "</tool_call>";
    static final String MISTRAL = "[TOOL_CALLS]";
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final char[] ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".toCharArray();

    private ToolCalls() {
    }

    /** An answer read as calls: the text before them ({@code null} when blank) and the calls in order. */
    record Parsed(String content, List<ToolCall> calls) {
    }

    /** The calls of {@code text}, or empty when it is not (only) calls of {@code use}'s tools. */
    static Optional<Parsed> parse(String text, ToolUse use) {
        String content = null;
        List<ToolCall> calls = new ArrayList<>();
        int open = text.indexOf(OPEN);
        if (open >= 0) {
            content = text.substring(0, open).isBlank() ? null : text.substring(0, open).strip();
            int at = open;
            while (at >= 0) {
                int start = at + OPEN.length();
                int close = text.indexOf(CLOSE, start);
                // the last block may lack its close tag: the model stopped right after the JSON
                String body = close < 0 ? text.substring(start) : text.substring(start, close);
                if (!addCalls(body, use, calls)) {
                    return Optional.empty();
                }
                if (close < 0) {
                    break;
                }
                int next = text.indexOf(OPEN, close + CLOSE.length());
                if (!text.substring(close + CLOSE.length(), next < 0 ? text.length() : next).isBlank()) {
                    return Optional.empty(); // text between or after the calls: not an answer of calls only
                }
                at = next;
            }
        } else {
            String body = text.strip();
            if (body.startsWith(MISTRAL)) {
                body = body.substring(MISTRAL.length());
            }
            if (!addCalls(body, use, calls)) {
                return Optional.empty();
            }
        }
        if (calls.isEmpty()) {
            return Optional.empty();
        }
        if (!use.parallel() && calls.size() > 1) {
            calls = List.of(calls.getFirst()); // parallel_tool_calls: false promises one call
        }
        return Optional.of(new Parsed(content, calls));
    }

    /** Adds the call or array of calls of the JSON {@code body}; false when it is not that. */
    private static boolean addCalls(String body, ToolUse use, List<ToolCall> out) {
        String json = body.strip();
        if (!(json.startsWith("{") || json.startsWith("["))) {
            return false;
        }
        JsonNode node;
        try {
            node = Json.MAPPER.readTree(json);
        } catch (JsonProcessingException e) {
            return false;
        }
        if (node.isObject()) {
            return addCall(node, use, out);
        }
        if (!node.isArray() || node.isEmpty()) {
            return false;
        }
        for (JsonNode element : node) {
            if (!addCall(element, use, out)) {
                return false;
            }
        }
        return true;
    }

    private static boolean addCall(JsonNode node, ToolUse use, List<ToolCall> out) {
        if (!(node instanceof ObjectNode call) || !(call.get("name") instanceof JsonNode name) || !name.isTextual()
                || use.tool(name.textValue()) == null) {
            return false;
        }
        JsonNode arguments = call.has("arguments") ? call.get("arguments") : call.get("parameters");
        String argumentsJson;
        if (arguments == null || arguments.isNull()) {
            argumentsJson = "{}";
        } else if (arguments.isObject()) {
            argumentsJson = new String(Json.bytes(arguments), StandardCharsets.UTF_8);
        } else if (arguments.isTextual() && isJsonObject(arguments.textValue())) {
            argumentsJson = arguments.textValue(); // some models write the arguments as a JSON string, as OpenAI sends them
        } else {
            return false;
        }
        out.add(new ToolCall(newId(), name.textValue(), argumentsJson));
        return true;
    }

    private static boolean isJsonObject(String text) {
        try {
            return Json.MAPPER.readTree(text).isObject();
        } catch (JsonProcessingException e) {
            return false;
        }
    }

    /** An id as OpenAI's: {@code call_} and 24 letters and digits. */
    static String newId() {
        char[] id = new char[24];
        for (int i = 0; i < id.length; i++) {
            id[i] = ID_CHARS[RANDOM.nextInt(ID_CHARS.length)];
        }
        return "call_" + new String(id);
    }

    /** A finished choice with its calls read out of its text, when tools may be called and it holds calls. */
    static OpenAiWriter.Choice answer(OpenAiWriter.Choice choice, ToolUse use) {
        if (!use.callsPossible()) {
            return choice;
        }
        return parse(choice.text(), use)
                .map(p -> new OpenAiWriter.Choice(choice.index(), p.content() == null ? "" : p.content(), choice.logprobs(),
                        TOOL_CALLS_FINISH, p.calls()))
                .orElse(choice);
    }

    /** OpenAI's finish reason of an answer of calls. */
    static final String TOOL_CALLS_FINISH = "tool_calls";
}
