package io.loraplex.engine.tokenizer;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Tool use for chat templates. For templates that take {@code tools}: the tools and calls as the
 * Python objects transformers hands them. For templates that do not: the same conversation written
 * into plain messages in the Hermes/Qwen2.5 convention (tools listed in the system message, calls in
 * {@code <tool_call>} tags, results in {@code <tool_response>} tags inside a user turn), which the
 * router's parser of free-form answers also reads.
 */
final class ToolPrompt {

    static final String TOOLS_HEADER = "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
            + "You are provided with function signatures within <tools></tools> XML tags:\n<tools>";
    static final String TOOLS_FOOTER = "\n</tools>\n\nFor each function call, return a json object with function name and "
            + "arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": "
            + "<args-json-object>}\n</tool_call>";

    private ToolPrompt() {
    }

    /** The tools as a list of maps; not a JSON array: IllegalArgumentException. */
    static List<Object> parseTools(String toolsJson) {
        try {
            JsonNode node = Json.MAPPER.readTree(toolsJson);
            if (node == null || !node.isArray()) {
                throw new IllegalArgumentException("tools must be a JSON array, found " + (node == null ? "nothing" : node.getNodeType()));
            }
            return Json.MAPPER.convertValue(node, new TypeReference<List<Object>>() { });
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("tools are not valid JSON: " + e.getOriginalMessage(), e);
        }
    }

    /**
     * {@code [{"id", "type": "function", "function": {"name", "arguments"}}]} with the arguments as an
     * object where they parse as one: templates write them with {@code tojson}, and a string would come
     * out quoted twice.
     */
    static List<Map<String, Object>> toolCallMaps(List<ChatMessage.ToolCall> calls) {
        List<Map<String, Object>> out = new ArrayList<>(calls.size());
        for (ChatMessage.ToolCall call : calls) {
            Map<String, Object> function = new LinkedHashMap<>();
            function.put("name", call.name());
            function.put("arguments", arguments(call.argumentsJson()));
            Map<String, Object> map = new LinkedHashMap<>();
            map.put("id", call.id());
            map.put("type", "function");
            map.put("function", function);
            out.add(map);
        }
        return out;
    }

    private static Object arguments(String json) {
        try {
            JsonNode node = Json.MAPPER.readTree(json);
            if (node != null && node.isObject()) {
                return Json.MAPPER.convertValue(node, new TypeReference<Map<String, Object>>() { });
            }
        } catch (JsonProcessingException e) {
            // not JSON: the template gets the text as the client sent it
        }
        return json;
    }

    /**
     * The conversation as plain messages: the tools appended to the system message (one is added
     * first when there is none), an assistant's calls as {@code <tool_call>} blocks after its text,
     * and each run of tool messages as one user message of {@code <tool_response>} blocks.
     *
     * @param tools the parsed tools, or null for none (only the calls and results are written)
     */
    static List<ChatMessage> inline(List<ChatMessage> messages, List<Object> tools) {
        List<ChatMessage> out = new ArrayList<>(messages.size() + 1);
        int start = 0;
        if (tools != null) {
            StringBuilder system = new StringBuilder();
            if (!messages.isEmpty() && messages.getFirst().role().equals("system")) {
                system.append(messages.getFirst().content()).append("\n\n");
                start = 1;
            }
            system.append(TOOLS_HEADER);
            for (Object tool : tools) {
                system.append('\n').append(PythonJson.dumps(tool));
            }
            system.append(TOOLS_FOOTER);
            out.add(new ChatMessage("system", system.toString()));
        }
        StringBuilder responses = null;
        for (int i = start; i < messages.size(); i++) {
            ChatMessage m = messages.get(i);
            if (m.role().equals("tool")) {
                responses = responses == null ? new StringBuilder() : responses.append('\n');
                responses.append("<tool_response>\n").append(m.content()).append("\n</tool_response>");
                continue;
            }
            if (responses != null) {
                out.add(new ChatMessage("user", responses.toString()));
                responses = null;
            }
            if (m.toolCalls().isEmpty()) {
                out.add(new ChatMessage(m.role(), m.content(), List.of(), null, m.name()));
                continue;
            }
            StringBuilder text = new StringBuilder(m.content());
            for (Map<String, Object> call : toolCallMaps(m.toolCalls())) {
                @SuppressWarnings("unchecked")
                Map<String, Object> function = (Map<String, Object>) call.get("function");
                Map<String, Object> shown = new LinkedHashMap<>();
                shown.put("name", function.get("name"));
                shown.put("arguments", function.get("arguments"));
                if (!text.isEmpty()) {
                    text.append('\n');
                }
                text.append("<tool_call>\n").append(PythonJson.dumps(shown)).append("\n</tool_call>");
            }
            out.add(new ChatMessage(m.role(), text.toString(), List.of(), null, m.name()));
        }
        if (responses != null) {
            out.add(new ChatMessage("user", responses.toString()));
        }
        return out;
    }
}
