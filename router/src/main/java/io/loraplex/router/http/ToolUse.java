package io.loraplex.router.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.loraplex.cluster.node.GpuNodeProtocol.OutputConstraint;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * A chat request's {@code tools}, {@code tool_choice} and {@code parallel_tool_calls}: what the node's
 * chat template renders, how the output is constrained, and how the answer is read back as calls.
 *
 * @param tools    the functions the model may call; empty when none were given
 * @param choice   {@code tool_choice}; {@link Choice#NONE} when no tools were given (as OpenAI defaults)
 * @param parallel {@code parallel_tool_calls}: more than one call per answer allowed
 */
public record ToolUse(List<Tool> tools, Choice choice, boolean parallel) {

    /** No tools: plain chat. */
    public static final ToolUse NONE = new ToolUse(List.of(), new Choice(Mode.NONE, null), true);

    /** OpenAI's limit on the number of tools of one request. */
    static final int MAX_TOOLS = 128;
    /** OpenAI's pattern of function names. */
    static final Pattern NAME = Pattern.compile("[a-zA-Z0-9_-]{1,64}");

    public ToolUse {
        tools = List.copyOf(tools);
    }

    /**
     * One function.
     *
     * @param parameters its JSON schema (an object schema); null when the function takes no arguments
     * @param strict     OpenAI's {@code strict}; the arguments of a forced call are constrained either way
     */
    public record Tool(String name, String description, ObjectNode parameters, boolean strict) {
    }

    public enum Mode {
        /** The model is not offered the tools and answers text. */
        NONE,
        /** The model decides: its free text is read as calls when it is calls. */
        AUTO,
        /** At least one call, constrained to the tools' schemas. */
        REQUIRED,
        /** Exactly one call of {@link Choice#function}. */
        NAMED
    }

    /** {@code tool_choice}; {@code function} is set for {@link Mode#NAMED} only. */
    public record Choice(Mode mode, String function) {
    }

    /** Whether the answer may hold calls (tools given and not {@code tool_choice: none}). */
    public boolean callsPossible() {
        return !tools.isEmpty() && choice.mode() != Mode.NONE;
    }

    /** Whether the answer must be calls: its output is constrained to them. */
    public boolean callsForced() {
        return choice.mode() == Mode.REQUIRED || choice.mode() == Mode.NAMED;
    }

    /**
     * The tools for the node's chat template, as a JSON array in OpenAI's shape; null when there are
     * none or {@code tool_choice} is {@code none} (then, as in vLLM, they are not rendered at all, so
     * the model is not tempted to call what it may not).
     */
    public String toolsJson() {
        if (!callsPossible()) {
            return null;
        }
        ArrayNode array = Json.MAPPER.createArrayNode();
        for (Tool t : tools) {
            ObjectNode tool = array.addObject();
            tool.put("type", "function");
            ObjectNode function = tool.putObject("function");
            function.put("name", t.name());
            if (t.description() != null) {
                function.put("description", t.description());
            }
            function.set("parameters", t.parameters() != null ? t.parameters() : noArguments());
        }
        return new String(Json.bytes(array), java.nio.charset.StandardCharsets.UTF_8);
    }

    /**
     * For {@code required} and a named function: the output must be the call(s) as JSON, each
     * {@code {"name": <one of the tools>, "arguments": <that tool's parameters>}}; with
     * {@code parallel_tool_calls} under {@code required}, an array of at least one such call. Null otherwise.
     */
    public OutputConstraint constraint() {
        if (!callsForced()) {
            return null;
        }
        // each tool's parameters (and its own $defs) become definitions of the call schema, so that the
        // references inside them ("#", "#/$defs/x") still name what they named in the tool
        ObjectNode definitions = Json.object();
        JsonNode schema;
        if (choice.mode() == Mode.NAMED) {
            Tool named = tool(choice.function());
            schema = callSchema(named, tools.indexOf(named), definitions);
        } else {
            JsonNode call;
            if (tools.size() == 1) {
                call = callSchema(tools.getFirst(), 0, definitions);
            } else {
                ObjectNode anyOf = Json.object();
                ArrayNode options = anyOf.putArray("anyOf");
                for (int i = 0; i < tools.size(); i++) {
                    options.add(callSchema(tools.get(i), i, definitions));
                }
                call = anyOf;
            }
            if (parallel) {
                ObjectNode array = Json.object();
                array.put("type", "array");
                array.set("items", call);
                array.put("minItems", 1);
                schema = array;
            } else {
                schema = call;
            }
        }
        if (!definitions.isEmpty()) {
            ((ObjectNode) schema).set("$defs", definitions);
        }
        return new OutputConstraint(OutputConstraint.Kind.JSON_SCHEMA,
                new String(Json.bytes(schema), java.nio.charset.StandardCharsets.UTF_8));
    }

    private static final Set<String> VALUE_KEYWORDS = Set.of("enum", "const", "default", "examples");
    /** A reference to tool {@code i}'s parameters or to its definition (then followed by {@code -}). */
    private static final Pattern DEFINITION_REF = Pattern.compile("#/\\$defs/f\\d+(-?)");

    /** Where tool {@code i}'s parameters sit in the call schema, and its definition {@code x}: {@code f<i>}, {@code f<i>-x}. */
    private static final Pattern DEFINITION_PATH = Pattern.compile("\\$\\.\\$defs\\.f(\\d+)(?:-([^\\s.)\\[]+))?");

    /**
     * A node's refusal of the call schema, as the client wrote it: the constraint is built from the
     * tools, so a keyword the engine does not support is in one of their {@code parameters}, named by
     * its place there ({@code tools[1].function.parameters.properties.when}) rather than in the call
     * schema nobody wrote.
     */
    String refusal(String message) {
        String located = DEFINITION_PATH.matcher(message).replaceAll(m -> java.util.regex.Matcher.quoteReplacement(
                "tools[" + m.group(1) + "].function.parameters" + (m.group(2) == null ? "" : ".$defs." + m.group(2))));
        located = DEFINITION_REF.matcher(located).replaceAll(m -> m.group(1).isEmpty() ? "#" : "#/\\$defs/");
        return located.replace(" in response_format", " in a tool's parameters");
    }

    Tool tool(String name) {
        for (Tool t : tools) {
            if (t.name().equals(name)) {
                return t;
            }
        }
        return null;
    }

    /** {@code {"name": <the tool's name>, "arguments": <its parameters>}}, the parameters put in {@code definitions}. */
    private static ObjectNode callSchema(Tool tool, int index, ObjectNode definitions) {
        ObjectNode call = Json.object();
        call.put("type", "object");
        ObjectNode properties = call.putObject("properties");
        ObjectNode name = properties.putObject("name");
        name.put("type", "string");
        name.putArray("enum").add(tool.name());
        String prefix = "f" + index;
        if (tool.parameters() == null) {
            properties.set("arguments", noArguments());
        } else {
            ObjectNode parameters = tool.parameters().deepCopy();
            for (String section : List.of("$defs", "definitions")) {
                JsonNode own = parameters.remove(section);
                if (own != null && own.isObject()) {
                    own.properties().forEach(d -> definitions.set(prefix + "-" + d.getKey(), relocated(d.getValue(), prefix)));
                } else if (own != null) {
                    parameters.set(section, own); // not an object: left for the engine to refuse by name
                }
            }
            definitions.set(prefix, relocated(parameters, prefix));
            properties.putObject("arguments").put("$ref", "#/$defs/" + prefix);
        }
        call.putArray("required").add("name").add("arguments");
        call.put("additionalProperties", false);
        return call;
    }

    /** A copy of a tool's schema whose local references name the hoisted definitions ({@code prefix}, {@code prefix-x}). */
    private static JsonNode relocated(JsonNode schema, String prefix) {
        JsonNode copy = schema.deepCopy();
        relocate(copy, prefix);
        return copy;
    }

    private static void relocate(JsonNode node, String prefix) {
        if (node instanceof ObjectNode object) {
            JsonNode ref = object.get("$ref");
            if (ref != null && ref.isTextual()) {
                String target = ref.asText();
                if (target.equals("#")) {
                    object.put("$ref", "#/$defs/" + prefix);
                } else if (target.startsWith("#/$defs/") || target.startsWith("#/definitions/")) {
                    object.put("$ref", "#/$defs/" + prefix + "-" + target.substring(target.indexOf('/', 2) + 1));
                }
            }
            // values (enum, const, default, examples) are data, not schemas: a "$ref" in them stays as written
            object.properties().forEach(e -> {
                if (!VALUE_KEYWORDS.contains(e.getKey())) {
                    relocate(e.getValue(), prefix);
                }
            });
        } else if (node instanceof ArrayNode array) {
            array.forEach(child -> relocate(child, prefix));
        }
    }

    /** The schema of a function without parameters: an empty object. */
    private static ObjectNode noArguments() {
        ObjectNode none = Json.object();
        none.put("type", "object");
        none.putObject("properties");
        none.putArray("required");
        none.put("additionalProperties", false);
        return none;
    }

    // --- parsing ---

    /** Reads {@code tools}, {@code tool_choice} and {@code parallel_tool_calls} of a chat body; 400s name the field. */
    static ToolUse parse(Fields f) {
        List<Tool> tools = tools(f.get("tools"));
        if (tools.isEmpty()) {
            for (String field : List.of("tool_choice", "parallel_tool_calls")) {
                if (f.has(field)) {
                    throw ApiError.invalid(field, "'" + field + "' is only allowed when 'tools' are specified").toException();
                }
            }
            return NONE;
        }
        Choice choice = choice(f.get("tool_choice"), tools);
        boolean parallel = f.bool("parallel_tool_calls", true);
        return new ToolUse(tools, choice, parallel);
    }

    private static List<Tool> tools(JsonNode v) {
        if (v == null) {
            return List.of();
        }
        if (!v.isArray()) {
            throw ApiError.wrongType("tools", "an array of tools").toException();
        }
        if (v.isEmpty()) {
            throw ApiError.invalid("tools", "'tools' must hold at least one tool; leave it out for none").toException();
        }
        if (v.size() > MAX_TOOLS) {
            throw ApiError.invalid("tools", "'tools' holds " + v.size() + " tools, more than the limit of " + MAX_TOOLS)
                    .toException();
        }
        List<Tool> out = new ArrayList<>(v.size());
        Set<String> names = new HashSet<>();
        for (int i = 0; i < v.size(); i++) {
            String param = "tools[" + i + "]";
            Fields t = Fields.of(v.get(i), param);
            t.allowOnly(Set.of("type", "function"), Set.of("custom"));
            Tool tool = function(t.function());
            if (!names.add(tool.name())) {
                throw ApiError.invalid(param + ".function.name", "'" + param + ".function.name' is '" + tool.name()
                        + "', a name an earlier tool already has; function names must be unique").toException();
            }
            out.add(tool);
        }
        return out;
    }

    private static Tool function(Fields fn) {
        fn.allowOnly(Set.of("name", "description", "parameters", "strict"), Set.of());
        String name = fn.requiredString("name");
        if (!NAME.matcher(name).matches()) {
            throw ApiError.invalid(fn.param("name"), "'" + fn.param("name") + "' must be 1 to 64 letters, digits, underscores "
                    + "or dashes (^[a-zA-Z0-9_-]{1,64}$); got '" + name + "'").toException();
        }
        String description = fn.string("description");
        ObjectNode parameters = null;
        JsonNode p = fn.get("parameters");
        if (p != null) {
            if (!(p instanceof ObjectNode object)) {
                throw ApiError.wrongType(fn.param("parameters"), "a JSON schema object").toException();
            }
            JsonNode type = object.get("type");
            if (type != null && !(type.isTextual() && type.textValue().equals("object"))) {
                throw ApiError.invalid(fn.param("parameters"), "'" + fn.param("parameters") + "' must be a JSON schema of "
                        + "type 'object' (a function takes named arguments); got type " + type).toException();
            }
            // {} is "no arguments" as OpenAI reads it
            parameters = object.isEmpty() ? null : object;
        }
        boolean strict = fn.bool("strict", false);
        return new Tool(name, description, parameters, strict);
    }

    private static Choice choice(JsonNode v, List<Tool> tools) {
        if (v == null) {
            return new Choice(Mode.AUTO, null);
        }
        if (v.isTextual()) {
            return switch (v.textValue()) {
                case "none" -> new Choice(Mode.NONE, null);
                case "auto" -> new Choice(Mode.AUTO, null);
                case "required" -> new Choice(Mode.REQUIRED, null);
                default -> throw ApiError.invalid("tool_choice", "'tool_choice' must be 'none', 'auto', 'required' or "
                        + "{\"type\": \"function\", \"function\": {\"name\": ...}}; got '" + v.textValue() + "'").toException();
            };
        }
        if (!v.isObject()) {
            throw ApiError.wrongType("tool_choice", "a string or an object naming a function").toException();
        }
        Fields c = Fields.of(v, "tool_choice");
        c.allowOnly(Set.of("type", "function"), Set.of("allowed_tools", "custom"));
        Fields fn = c.function();
        fn.allowOnly(Set.of("name"), Set.of());
        String name = fn.requiredString("name");
        if (tools.stream().noneMatch(t -> t.name().equals(name))) {
            throw ApiError.invalid(fn.param("name"), "'" + fn.param("name") + "' is '" + name + "', which is not a function in "
                    + "'tools' (" + String.join(", ", tools.stream().map(Tool::name).toList()) + ")").toException();
        }
        return new Choice(Mode.NAMED, name);
    }
}
